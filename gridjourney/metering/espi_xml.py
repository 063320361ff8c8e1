"""Safe XML parsing for ESPI feeds, tolerant of namespace prefixes the file forgot to declare.

Expat parses with document type declarations refused, so no entity can expand (the "billion laughs")
and no external resource is read. Files in the wild use `espi:` or `atom:` without declaring them;
where a prefix can mean only one namespace (a Green Button prefix, or one the file declares elsewhere
with a single URI), it is declared on the root element and the file parsed again. Any other undeclared
prefix is refused by name. Elements written with no namespace at all are read as Atom outside an entry's
content and as ESPI inside it (and so are ESPI elements that inherited the feed's default Atom one).

Every pass is expat over the whole file, once: linear in its size whatever it holds (no regex scans
the raw bytes, so an unterminated comment or processing instruction cannot make a pass rescan the
rest of the file; expat refuses it with its line). Nothing recurses on the depth of the tree.
"""

from __future__ import annotations

import pyexpat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
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
# The element path in a refusal names at most this many innermost elements (a file may nest deeply).
PATH_SHOWN = 8
# A tree costs ~160 bytes of memory per element. Real files have ~25 bytes or more per element (the
# sample: 42), so the 64 MB upload limit holds at most ~2.5 million; a file of bare `<a/>` would hold
# 16 million (2.6 GB) and is refused here instead.
MAX_ELEMENTS = 4_000_000


def _too_many_elements() -> GreenButtonError:
    return GreenButtonError(
        "document", f"more than {MAX_ELEMENTS:,} elements: larger than any Green Button file (split it)"
    )


def _refuse_doctype(*_: Any) -> None:
    raise GreenButtonError("DOCTYPE", "document type declarations are refused (entities could expand)")


def _guarded_parser(namespace_separator: str | None) -> pyexpat.XMLParserType:
    parser = pyexpat.ParserCreate(namespace_separator=namespace_separator)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    return parser


def _malformed(exc: pyexpat.ExpatError, stack: list[str]) -> GreenButtonError:
    shown = "/".join(stack[-PATH_SHOWN:]) or "document"
    element = ("…/" if len(stack) > PATH_SHOWN else "") + shown
    reason = f"malformed XML: {pyexpat.errors.messages[exc.code]} at column {exc.offset + 1}"
    return GreenButtonError(element, reason, exc.lineno)


class _UnboundPrefix(Exception):
    pass


def _parse(data: bytes) -> ET.Element:
    builder = ET.TreeBuilder()
    parser = _guarded_parser(namespace_separator="}")
    stack: list[str] = []
    elements = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal elements
        elements += 1
        if elements > MAX_ELEMENTS:
            raise _too_many_elements()
        name = "{" + tag if "}" in tag else tag
        stack.append(name.rsplit("}", 1)[-1])
        # Namespaced attributes in ElementTree's {uri}name form too (expat writes uri}name).
        builder.start(name, {("{" + k if "}" in k else k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        stack.pop()
        builder.end("{" + tag if "}" in tag else tag)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as exc:
        if exc.code == pyexpat.errors.codes[pyexpat.errors.XML_ERROR_UNBOUND_PREFIX]:
            raise _UnboundPrefix() from None
        raise _malformed(exc, stack) from None
    return builder.close()


@dataclass
class _Prefixes:
    """What one pass without namespace processing saw: prefixes as the file writes them."""

    used: set[str] = field(default_factory=set)
    declared: dict[str, set[str]] = field(default_factory=dict)
    on_root: set[str] = field(default_factory=set)
    root_name_end: int | None = None
    """Byte offset just past the root element's name, where declarations can be added."""


def _prefix(name: str) -> str | None:
    prefix, colon, _ = name.partition(":")
    return prefix if colon else None


def _scan_prefixes(data: bytes) -> _Prefixes:
    """The prefixes the file uses on elements and attributes, the URIs each is declared with, and
    those its root declares: expat reads comments, processing instructions and CDATA as such."""
    parser = _guarded_parser(namespace_separator=None)
    seen = _Prefixes()
    stack: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if seen.root_name_end is None:
            at = parser.CurrentByteIndex + 1  # past the "<"
            written = name.encode()
            if data[at - 1 : at] != b"<" or data[at : at + len(written)] != written:
                raise GreenButtonError(
                    "document", "undeclared namespace prefixes are repaired only in UTF-8 (or ASCII) files"
                )
            seen.root_name_end = at + len(written)
            seen.on_root = {p for a in attrs if (p := a.removeprefix("xmlns:")) != a}
        if len(stack) >= MAX_ELEMENTS:
            raise _too_many_elements()  # open at once; the tree pass counts them all
        stack.append(name.rpartition(":")[2])
        if (prefix := _prefix(name)) is not None:
            seen.used.add(prefix)
        for attribute, value in attrs.items():
            if attribute.startswith("xmlns:"):
                seen.declared.setdefault(attribute.removeprefix("xmlns:"), set()).add(value)
            elif (prefix := _prefix(attribute)) is not None:
                seen.used.add(prefix)

    def end(_: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as exc:
        raise _malformed(exc, stack) from None
    seen.used -= {"xml", "xmlns"}
    return seen


def _declare_prefixes(data: bytes) -> tuple[bytes, list[str]]:
    """The document with its undeclared prefixes declared on the root element, and their names."""
    seen = _scan_prefixes(data)
    if seen.root_name_end is None:
        raise GreenButtonError("document", "no root element")
    additions: dict[str, str] = {}
    for prefix in sorted(seen.used - seen.on_root):
        uris = seen.declared.get(prefix, set())
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
    # Expat gave the URIs unescaped: escape them again for the attribute value.
    text = b"".join(
        f' xmlns:{p}="{u.replace("&", "&amp;").replace("<", "&lt;").replace(chr(34), "&quot;")}"'.encode()
        for p, u in additions.items()
    )
    at = seen.root_name_end
    return data[:at] + text + data[at:], sorted(additions)


def _qualify(root: ET.Element) -> int:
    """Put un-namespaced elements (and Atom-namespaced ones inside content) in the namespace their
    place means; returns how many were moved. Iterative: the tree may be deeper than Python recurses."""
    moved = 0
    atom_content = f"{{{ATOM_NS}}}content"
    pending: list[tuple[ET.Element, bool]] = [(root, False)]
    while pending:
        element, inside_content = pending.pop()
        namespace, _, local = element.tag.rpartition("}")
        if not namespace or (inside_content and namespace == "{" + ATOM_NS):
            element.tag = f"{{{ESPI_NS if inside_content else ATOM_NS}}}{local}"
            moved += 1
        inside = inside_content or element.tag == atom_content
        pending.extend((child, inside) for child in element)
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
    if moved := _qualify(root):
        notes.append(f"{moved} elements had no namespace: each read as Atom or ESPI by where it stands")
    return root, notes
