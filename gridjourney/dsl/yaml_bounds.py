"""Bounds on journey (and policy) YAML, checked before the document is composed into nodes.

A journey is a page of YAML. The bounds keep a hostile file cheap to refuse: no anchors or aliases (an
alias bomb expands a kilobyte into gigabytes), limited nesting (PyYAML's composer recurses once per
level), a limited number of values, and text a database can hold (no NUL, no lone surrogate: a
journey's values reach events, templates and messages). They are checked on the parser's event
stream, which is produced iteratively, so even a file nested thousands of levels deep is refused
without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from gridjourney.events.fields import clean_text_problem

MAX_JOURNEY_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000


@dataclass(frozen=True)
class BoundsProblem:
    line: int
    column: int
    message: str
    hint: str


def size_problem(text: str) -> BoundsProblem | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_JOURNEY_BYTES:
        return None
    message = f"the file is {size} bytes; a journey may have at most {MAX_JOURNEY_BYTES}"
    return BoundsProblem(1, 1, message, "split it into several journeys")


def structure_problem(text: str) -> BoundsProblem | None:
    """The first anchor, alias, or nesting or value count beyond the bounds. Raises yaml.YAMLError
    for a file that is not YAML at all (the caller reports those with their position)."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            message = "anchors (&name) and aliases (*name) are not allowed"
            return BoundsProblem(line, column, message, "write the value out where it is used")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return BoundsProblem(line, column, f"nested deeper than {MAX_DEPTH} levels", "flatten it")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.ScalarEvent) and (unstorable := clean_text_problem(event.value)):
            return BoundsProblem(line, column, f"the value {unstorable}", "remove the character")
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                message = f"more than {MAX_NODES} values"
                return BoundsProblem(line, column, message, "split it into several journeys")
    return None
