"""What a name holds in an expression (Shape: its keys, each with its own shape, and the values a
string can have), and the load-time checks of what an expression reads from its names: every key
of a chain (`customer.scores.churn`) exists, and a string it is compared with is one of its values.
Nothing here evaluates anything."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from gridjourney.dsl.suggestions import did_you_mean


@dataclass(frozen=True)
class Shape:
    """What a name holds, for the load-time check: its keys, each with its own shape (None: any key,
    e.g. a free-form JSON object), and, for a string, the values it can have (None: any), which
    literals it is compared with must be among (`customer.segment == 'evening_peak'`)."""

    keys: Mapping[str, Shape] | None = None
    values: frozenset[str] | None = None
    # What its keys are called in messages ("customer attributes", "scores").
    keys_are: str = "fields"


ANY = Shape()
# What one may mean by a name a customer does not have (no "did you mean" reaches them: too far).
CUSTOMER_ALIASES = {
    "first_name": "name",
    "last_name": "name",
    "full_name": "name",
    "firstname": "name",
    "id": "customer_id",
    "language": "locale",
    "lang": "locale",
    "timezone": "time_zone",
    "tz": "time_zone",
}


def outside_where(tree: ast.AST) -> list[ast.AST]:
    """The nodes of `tree` but those of had()'s `where`, which reads a past event, not this one."""
    skipped: set[int] = set()
    # any call's: a misspelt had() is reported as such, not for its `where` too
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        for keyword in call.keywords:
            if keyword.arg == "where":
                skipped.update(id(node) for node in ast.walk(keyword.value))
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def check_fields(tree: ast.AST, shapes: Mapping[str, Shape]) -> list[str]:
    """`event.x` / `event["x"]` / `customer.scores.y` must name known keys, all the way down."""
    problems = []
    for node in outside_where(tree):
        chain = field_chain(node)
        if chain is None or chain[0] not in shapes:
            continue
        problem = field_problem(chain, shapes[chain[0]])
        if problem is not None:
            problems.append(problem)
    return problems


def field_problem(chain: list[str], shape: Shape) -> str | None:
    """Why `chain` (["customer", "scores", "x"]) names no key of `shape`, the root's; None when it does."""
    for depth, key in enumerate(chain[1:], start=1):
        if shape.keys is None:
            return None
        if key not in shape.keys:
            holder = ".".join(chain[:depth])
            if not shape.keys:
                return f"`{holder}` is a single value: it has no field `{key}`"
            alias = CUSTOMER_ALIASES.get(key) if chain[0] == "customer" and depth == 1 else None
            if alias is not None and alias in shape.keys:
                return f"`{holder}` has no field `{key}`: write `{holder}.{alias}`"
            return f"`{holder}` has no field `{key}`; " + did_you_mean(
                key, shape.keys, f"its {shape.keys_are}"
            )
        shape = shape.keys[key]
    return None


def shape_at(chain: list[str], shapes: Mapping[str, Shape]) -> Shape | None:
    """The shape `customer.segment` (as a chain of names) has; None when it is not known."""
    shape = shapes.get(chain[0])
    for key in chain[1:]:
        if shape is None or shape.keys is None:
            return None
        shape = shape.keys.get(key)
    return shape


def check_literals(tree: ast.AST, shapes: Mapping[str, Shape]) -> list[str]:
    """`customer.segment == 'evening_peek'` compares with a value the name never has."""
    problems = []
    for node in outside_where(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn):
                continue
            for name_side, literal_side in ((left, right), (right, left)):
                chain = field_chain(name_side)
                shape = shape_at(chain, shapes) if chain is not None else None
                if shape is None or shape.values is None:
                    continue
                for literal in _string_literals(literal_side):
                    if literal not in shape.values:
                        shown = ".".join(chain or [])
                        problems.append(
                            f"`{shown}` is never {literal!r}; "
                            + did_you_mean(literal, shape.values, "its values")
                        )
    return problems


def _string_literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def field_chain(node: ast.AST) -> list[str] | None:
    """["customer", "scores", "x"] for `customer.scores.x` or `customer["scores"]["x"]`; else None."""
    keys: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            keys.append(node.attr)
            node = node.value
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Name) and keys:
            return [node.id, *reversed(keys)]
        else:
            return None
