"""Pointing inside an expression: an error about one name of `when: "customer.segmnet == 'flat'"` is
placed at that name (`segmnet`), not at the start of the expression, however the expression is written
(quoted with escapes, over lines, as a block: dsl/scalar_source.py)."""

from __future__ import annotations

import re

from gridjourney.dsl.loader import JourneyError, Path, Positions
from gridjourney.dsl.scalar_source import value_places

# What a problem of dsl/expressions.py names, and how that name appears in the expression ({} is the
# name, escaped).
_CULPRITS = (
    (re.compile(r"has no field `([^`]+)`"), r"(?<=[.\[\"']){}\b"),
    (re.compile(r"is never '((?:[^'\\]|\\.)*)'"), r"(['\"]){}\1"),
    (re.compile(r"unknown name `([^`]+)`"), r"(?<![.\w]){}\b"),
    (re.compile(r"calling `(\w+)` is not allowed: unknown function"), r"(?<![.\w]){}\s*\("),
    (re.compile(r"unknown (?:event type|journey) `([^`]+)`"), r"(['\"]){}\1"),
    (re.compile(r"had\(\)'s `within` '([^']+)'"), r"(?<![\w.]){}"),
)


def pointed_error(positions: Positions, path: Path, expr: str, message: str, hint: str) -> JourneyError:
    """The error at the name `message` is about, inside `expr`; at the expression when that name
    cannot be found in it, or the file's text there does not read as `expr`."""
    error = positions.error(path, message, hint)
    offset = _offset(expr.strip(), message)
    if offset is None:
        return error
    places = value_places(positions.lines, error.line, error.column, expr)
    offset += len(expr) - len(expr.lstrip())
    if places is None or offset >= len(places):
        return error
    line, column = places[offset]
    return JourneyError(error.file, line + 1, column + 1, message, hint)


def _offset(expr: str, message: str) -> int | None:
    for problem, pattern in _CULPRITS:
        named = problem.search(message)
        if named is not None:
            found = re.search(pattern.replace("{}", re.escape(named.group(1))), expr)
            return None if found is None else found.start()
    return None
