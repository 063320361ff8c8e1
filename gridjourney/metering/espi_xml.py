"""Safe XML parsing for ESPI feeds, tolerant of namespace prefixes the file forgot to declare.

Expat parses with document type declarations refused, so no entity can expand (the "billion laughs")
and no external resource is read. Files in the wild use `espi:` or `atom:` without declaring them;
where a prefix can mean only one namespace (a Green Button prefix, or one the file declares elsewhere
with a single URI), it is declared on the root element and the file parsed again. Any other undeclared
prefix is refused by name. Elements written with no namespace at all are read as Atom outside an entry's
content and as ESPI inside it (and so are ESPI elements that inherited the feed's default Atom one).
"""

from __future__ import annotations

import pyexpat
import re
import xml.etree.ElementTree as ET
from typing import Any

from gridjourney.metering.errors import GreenButtonError

KNOWN_PREFIXES = {
    "espi": "http://naesb.org/espi",
    "atom": "http://www.w3.org/2005/Atom",
    "cust": "http://naesb.org/espi/customer",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
ATOM_NS = KNOWN_PREFIXES["atom"]
ESPI_NS = KNOWN_PREFIXES["espi"]
_USED = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[\w.-]+\s*=")
_DECLARED = re.compile(rb"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']*)["']""")
_ROOT = re.compile(rb"<(?![?!])[A-Za-z_][\w.:-]*")
_COMMENT_OR_PI = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.S)


def _parse(data: bytes) -> ET.Element:
    builder = ET.TreeBuilder()
    parser = pyexpat.ParserCreate(namespace_separator="}")
    stack: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = "{" + tag if "}" in tag else tag
        stack.append(name.rsplit("}", 1)[-1])
        builder.start(name, attrs)

    def end(tag: str) -> None:
        stack.pop()
        builder.end("{" + tag if "}" in tag else tag)

    def refuse_doctype(*_: Any) -> None:
        raise GreenButtonError("DOCTYPE", "document type declarations are refused (entities could expand)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as exc:
        if exc.code == pyexpat.errors.codes[pyexpat.errors.XML_ERROR_UNBOUND_PREFIX]:
            raise _UnboundPrefix() from None
        element = "/".join(stack) or "document"
        raise GreenButtonError(
            element, f"malformed XML: {pyexpat.errors.messages[exc.code]}", exc.lineno
        ) from None
    return builder.close()


class _UnboundPrefix(Exception):
    pass


def _declare_prefixes(data: bytes) -> tuple[bytes, list[str]]:
    """The document with its undeclared prefixes declared on the root element, and their names."""
    body = _COMMENT_OR_PI.sub(lambda m: b" " * len(m.group(0)), data)
    used = {(m.group(1) or m.group(2)).decode() for m in _USED.finditer(body)} - {"xml", "xmlns"}
    declared: dict[str, set[str]] = {}
    for m in _DECLARED.finditer(body):
        declared.setdefault(m.group(1).decode(), set()).add(m.group(2).decode())
    root = _ROOT.search(body)
    if root is None:
        raise GreenButtonError("document", "no root element")
    root_end = body.index(b">", root.end())
    on_root = {m.group(1).decode() for m in _DECLARED.finditer(body[root.start() : root_end])}
    additions: dict[str, str] = {}
    for prefix in sorted(used - on_root):
        uris = declared.get(prefix, set())
        if len(uris) > 1:
            raise GreenButtonError(
                f"prefix {prefix}", f"it is declared with {len(uris)} different namespaces: ambiguous"
            )
        uri = next(iter(uris)) if uris else KNOWN_PREFIXES.get(prefix)
        if uri is None:
            raise GreenButtonError(
                f"prefix {prefix}",
                "used without a declaration, and not a Green Button prefix",
            )
        additions[prefix] = uri
    text = b"".join(f' xmlns:{p}="{u}"'.encode() for p, u in additions.items())
    return data[: root.end()] + text + data[root.end() :], sorted(additions)


def _qualify(element: ET.Element, inside_content: bool) -> int:
    """Put un-namespaced elements (and Atom-namespaced ones inside content) in the namespace their
    place means; returns how many were moved."""
    moved = 0
    namespace, _, local = element.tag.rpartition("}")
    if not namespace or (inside_content and namespace == "{" + ATOM_NS):
        element.tag = f"{{{ESPI_NS if inside_content else ATOM_NS}}}{local}"
        moved += 1
    inside = inside_content or element.tag == f"{{{ATOM_NS}}}content"
    for child in element:
        moved += _qualify(child, inside)
    return moved


def parse_xml(data: bytes) -> tuple[ET.Element, list[str]]:
    """The root element, and what had to be repaired to read it (nothing in a tidy file)."""
    notes: list[str] = []
    try:
        root = _parse(data)
    except _UnboundPrefix:
        fixed, prefixes = _declare_prefixes(data)
        notes = [
            f"undeclared namespace prefix {p}: read as {KNOWN_PREFIXES.get(p, 'declared elsewhere')}"
            for p in prefixes
        ]
        try:
            root = _parse(fixed)
        except _UnboundPrefix:
            raise GreenButtonError("document", "a namespace prefix is used without a declaration") from None
    if moved := _qualify(root, inside_content=False):
        notes.append(f"{moved} elements had no namespace: each read as Atom or ESPI by where it stands")
    return root, notes
