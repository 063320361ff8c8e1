"""The email layout rendered once per shape, not once per message (content/render.py).

A cohort batch renders the same layout for thousands of emails whose text parts differ in a few
words (a greeting by name, a time in the customer's zone). When the layout reads nothing but the
`subject`, the `locale`, each block's `kind` and prints each line as it is (`{{ line }}`, escaped
by autoescape), its output is a function of the subject, the locale and the blocks' shape (their
kinds and line counts) with the lines dropped in escaped. That output is rendered once per shape,
with a marker standing for each line, and each email fills the markers with its escaped lines.

Whether a layout is such a layout is decided from its syntax tree (`_Reads`): anything else it
does (another variable, a filter or test on a line, a call, `{% set %}`, `{% autoescape %}`,
includes, macros...) sends it down the ordinary path, one Jinja rendering per email.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jinja2 import Environment, Template, nodes
from markupsafe import escape

# Free names the shape's key holds; the loop's counters depend on the shape alone.
KEYED_NAMES = frozenset({"subject", "locale"})
LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
)
# Per process and unguessable, so no customer's text can be taken for one.
_MARK = f"gjline{secrets.token_hex(12)}n"
_MARKER = re.compile(rf"{_MARK}(\d+)e")
# Node kinds a layout may use and still be rendered once per shape.
_PLAIN = (
    nodes.Template,
    nodes.TemplateData,
    nodes.Const,
    nodes.If,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.CondExpr,
)
Blocks = Sequence[dict[str, Any]]


class _Reads:
    """Whether a layout's tree reads only what the shape's key holds (see the module's docstring).
    `roles` name what a loop variable is bound to: `block`, `line` or `loop`."""

    def fits(self, node: nodes.Node, roles: dict[str, str]) -> bool:
        if isinstance(node, nodes.Output):
            return all(self._printed(child, roles) for child in node.nodes)
        if isinstance(node, nodes.For):
            return self._loop(node, roles)
        if isinstance(node, nodes.Name):
            return node.ctx == "load" and node.name in KEYED_NAMES and node.name not in roles
        if isinstance(node, nodes.Getattr):
            return self._attribute(node, roles)
        if isinstance(node, _PLAIN):
            return all(self.fits(child, roles) for child in node.iter_child_nodes())
        return False

    def _printed(self, node: nodes.Node, roles: dict[str, str]) -> bool:
        # A line printed as it is: the marker stands for it, escaped as autoescape escapes it.
        return (isinstance(node, nodes.Name) and roles.get(node.name) == "line") or self.fits(node, roles)

    def _attribute(self, node: nodes.Getattr, roles: dict[str, str]) -> bool:
        # Only a block's kind and the loop's counters: another attribute may print a method, whose
        # text names the object's address.
        if not isinstance(node.node, nodes.Name):
            return False
        role = roles.get(node.node.name)
        return (role == "block" and node.attr == "kind") or (role == "loop" and node.attr in LOOP_ATTRIBUTES)

    def _loop(self, node: nodes.For, roles: dict[str, str]) -> bool:
        if node.recursive or node.test is not None or not isinstance(node.target, nodes.Name):
            return False
        over = node.iter
        if isinstance(over, nodes.Name) and over.name == "blocks" and "blocks" not in roles:
            role = "block"
        elif (
            isinstance(over, nodes.Getattr)
            and over.attr == "lines"
            and isinstance(over.node, nodes.Name)
            and roles.get(over.node.name) == "block"
        ):
            role = "line"
        else:
            return False
        inner = roles | {node.target.name: role, "loop": "loop"}
        return all(self.fits(child, inner) for child in node.body) and all(
            self.fits(child, roles) for child in node.else_
        )


@lru_cache(maxsize=32)
def shaped_layout(template: Template) -> Template | None:
    """A loaded layout, compiled again from the source its tree was read from, when it fits; else None."""
    environment = template.environment
    if template.name is None or environment.loader is None:
        return None
    source, _, _ = environment.loader.get_source(environment, template.name)
    return shaped_source(environment, source)


@lru_cache(maxsize=32)
def shaped_source(environment: Environment, source: str) -> Template | None:
    """`source` compiled, when its tree fits; else None."""
    if not _Reads().fits(environment.parse(source), {}):
        return None
    return environment.from_string(source)


@lru_cache(maxsize=512)
def _pieces(
    template: Template, subject: str | None, locale: str, shape: tuple[tuple[str, int], ...]
) -> tuple[str, ...]:
    """The layout's output for this shape cut at the markers: text, line number, text, ..."""
    numbers = iter(range(sum(count for _, count in shape)))
    blocks = [
        {"kind": kind, "lines": [f"{_MARK}{next(numbers)}e" for _ in range(count)]} for kind, count in shape
    ]
    return tuple(_MARKER.split(template.render({"subject": subject, "locale": locale, "blocks": blocks})))


def render_shaped(layout: Template, subject: str | None, locale: str, blocks: Blocks) -> str | None:
    """A fitting layout's output for these blocks, from its shape's rendering (stripped, as
    content/render.py strips it); None when the subject or locale holds the marker."""
    if _MARK in (subject or "") or _MARK in locale:
        return None
    shape = tuple((str(block["kind"]), len(block["lines"])) for block in blocks)
    lines = _escaped([line for block in blocks for line in block["lines"]])
    pieces = _pieces(layout, subject, locale, shape)
    out = [pieces[0]]
    for n in range(1, len(pieces), 2):
        out.append(lines[int(pieces[n])])
        out.append(pieces[n + 1])
    return "".join(out).strip()


def _escaped(lines: list[Any]) -> list[str]:
    """Each line escaped as autoescape escapes it: text lines in one call, joined by line breaks (which
    escaping leaves as they are), unless a line holds one or is not plain text."""
    if set(map(type, lines)) <= {str}:
        escaped = str(escape("\n".join(lines))).split("\n")
        if len(escaped) == len(lines):
            return escaped
    return [str(escape(line)) for line in lines]
