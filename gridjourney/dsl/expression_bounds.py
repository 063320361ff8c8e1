"""Bounds on an expression's size and nesting, checked when it is parsed.

Python's parser, the checks that walk the tree and the evaluator all recurse once (or more) per
level of nesting: `-----…-x` with a few thousand signs, or `1+1+…` with thousands of terms (each
`+` one level deeper), exhausts the stack. So every expression is parsed here: longer than
MAX_EXPRESSION_CHARS or nested deeper than MAX_EXPRESSION_DEPTH, it is an ExpressionTooComplex (a
SyntaxError, which every caller already reports as a bad expression), never a RecursionError. A
journey's expressions are a line or two, nested a few levels.
"""

from __future__ import annotations

import ast

MAX_EXPRESSION_CHARS = 20_000
MAX_EXPRESSION_DEPTH = 100
# How the problems start, and what to do about them.
TOO_COMPLEX = ("expression nested too deeply", "expression too long")
BOUNDS_HINT = (
    "write it flat (`a or b or c`, `x in [1, 2, 3]`), or split it over `branch` steps; a journey's "
    "conditions are a line or two"
)


class ExpressionTooComplex(SyntaxError):
    """An expression beyond the bounds; `msg` says which and the limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def parse_bounded(text: str) -> ast.Expression:
    """`ast.parse(text, mode="eval")` within the bounds; raises SyntaxError (ExpressionTooComplex
    beyond them)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionTooComplex(
            f"expression too long: {len(text):,} characters, at most {MAX_EXPRESSION_CHARS:,}"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (RecursionError, MemoryError):  # the parser's own stack ran out: deeper than any bound
        raise ExpressionTooComplex(_too_deep(None)) from None
    depth = nesting_depth(tree)
    if depth > MAX_EXPRESSION_DEPTH:
        raise ExpressionTooComplex(_too_deep(depth))
    return tree


def nesting_depth(tree: ast.AST) -> int:
    """The levels of the deepest node under `tree` (walked without recursion)."""
    deepest = 0
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _too_deep(depth: int | None) -> str:
    levels = f"{depth} levels" if depth is not None else "too many levels"
    return (
        f"expression nested too deeply ({levels}; at most {MAX_EXPRESSION_DEPTH}): brackets, signs or "
        "operators inside one another"
    )


SHOWN_CHARS = 80


def shown(expr: str) -> str:
    """`expr` quoted for a message, cut short when long (the error's position points at it)."""
    return repr(expr if len(expr) <= SHOWN_CHARS else f"{expr[: SHOWN_CHARS - 1]}…")
