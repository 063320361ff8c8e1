"""Sandboxed expressions: the `when` of triggers, waits, goals and branches, and computed values.

Language: Python expression syntax over the names `event`, `customer` and `journey` (and `trigger`
inside `wait_for` and `goal` conditions, where `event` is the awaited event), all plain dicts.
`event.projected_amount` reads the key `projected_amount`; `event["projected_amount"]` does too.
Allowed: literals, arithmetic, comparisons (also chained and `in`), `and`/`or`/`not`,
`x if c else y`, and calls of the functions in FUNCTIONS. Nothing else: no other calls, no attribute
access on anything but those dicts, no names starting with `_`, no comprehensions or lambdas.

Semantics at run time (`evaluate`): a missing key or name, a type error (`None > 1`), a division by
zero and every other failure raise ExpressionError. Callers decide what that means; the engine treats
a failing condition as false (the trigger does not match, the branch case is skipped).

`evaluate` runs inside Temporal workflow code: it is pure, deterministic and does no I/O.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes

from gridjourney.events.types import known_event_types

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}
NAMES = ("event", "customer", "journey", "trigger")
# Keys every event has in its expression view (see EventRef.namespace), besides its payload fields.
EVENT_ENVELOPE = frozenset({"type", "occurred_at"})
JOURNEY_FIELDS = frozenset({"id", "version"})

_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Load,
)


class ExpressionError(ValueError):
    """An expression could not be evaluated (missing key, wrong type, forbidden construct)."""


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
# Words from other languages for Python's constants.
CONSTANTS = {"true": "True", "false": "False", "null": "None", "none": "None", "nil": "None"}
Scope = frozenset[str] | set[str] | Shape | None


def event_fields(event_type: str) -> frozenset[str] | None:
    """The keys `event` has for this event type (built-in or declared), or None when it is unknown.
    Reads the declarations (events/declared.py): a load-time check, never called in workflows."""
    model = known_event_types().get(event_type)
    if model is None:
        return None
    return frozenset(model.model_fields) | EVENT_ENVELOPE


def check_expression(expr: str, allowed_fields: Mapping[str, Scope]) -> list[str]:
    """Problems with `expr`, or [] when it is fine. Run at load time; never evaluates anything.

    `allowed_fields` maps each name the expression may use to the keys it may read from it: a set
    of keys (each holding anything), a Shape (nested keys, string values), or None (any key).
    """
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as error:
        where = f" at character {error.offset}" if error.offset else ""
        return [f"not a valid expression: {error.msg}{where}"]
    problems: list[str] = []
    _visit(tree, allowed_fields, problems)
    shapes = {name: as_shape(scope) for name, scope in allowed_fields.items()}
    problems.extend(_check_fields(tree, shapes))
    problems.extend(_check_literals(tree, shapes))
    return list(dict.fromkeys(problems))


def as_shape(scope: Scope) -> Shape:
    if scope is None:
        return ANY
    if isinstance(scope, Shape):
        return scope
    return Shape(keys=dict.fromkeys(scope, ANY))


def did_you_mean(name: str, candidates: Iterable[str], what: str) -> str:
    """`did you mean `x`? {what}: a, b, c` when one is close, else the list alone."""
    known = sorted(set(candidates))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    listed = ", ".join(known)
    return f"did you mean `{close[0]}`? {what}: {listed}" if close else f"{what}: {listed}"


def _visit(node: ast.AST, allowed_fields: Mapping[str, Any], problems: list[str]) -> None:
    """Report forbidden constructs, without descending into them (one message per construct)."""
    if not isinstance(node, _NODES):
        problems.append(f"{_describe(node)} is not allowed in expressions")
        return
    children: list[ast.AST] = list(ast.iter_child_nodes(node))
    if isinstance(node, ast.Call):
        call_problems = _check_call(node)
        problems.extend(call_problems)
        children = [] if call_problems else list(node.args)
    elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        problems.append(f"`.{node.attr}`: names starting with `_` are not allowed")
    elif isinstance(node, ast.Name) and node.id not in allowed_fields:
        if node.id in FUNCTIONS:
            problems.append(f"`{node.id}` is a function: call it, e.g. {node.id}(...)")
        elif node.id.lower() in CONSTANTS:
            problems.append(f"unknown name `{node.id}`: write `{CONSTANTS[node.id.lower()]}`")
        else:
            problems.append(f"unknown name `{node.id}`; use {_names(allowed_fields)}")
    for child in children:
        _visit(child, allowed_fields, problems)


def _check_call(node: ast.Call) -> list[str]:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        return [f"calling `{ast.unparse(node.func)}` is not allowed; functions: {', '.join(FUNCTIONS)}"]
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        return [f"`{node.func.id}` takes plain positional arguments only"]
    return []


def _check_fields(tree: ast.AST, shapes: Mapping[str, Shape]) -> list[str]:
    """`event.x` / `event["x"]` / `customer.scores.y` must name known keys, all the way down."""
    problems = []
    for node in ast.walk(tree):
        chain = _chain(node)
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


def _check_literals(tree: ast.AST, shapes: Mapping[str, Shape]) -> list[str]:
    """`customer.segment == 'evening_peek'` compares with a value the name never has."""
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn):
                continue
            for name_side, literal_side in ((left, right), (right, left)):
                chain = _chain(name_side)
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


def _chain(node: ast.AST) -> list[str] | None:
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


def fields_read(expr: str, name: str) -> frozenset[str]:
    """The keys `expr` reads from `name` (`event.x`, `event["x"]`); empty when it does not parse."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return frozenset()
    found = (_first_key(node) for node in ast.walk(tree))
    return frozenset(key for root, key in found if root == name and key is not None)


def _first_key(node: ast.AST) -> tuple[str | None, str | None]:
    """(`event`, `x`) for `event.x` or `event["x"]`; (None, None) for anything else."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.value.id, node.slice.value
    return None, None


def _describe(node: ast.AST) -> str:
    kind = type(node).__name__
    readable = {
        "Lambda": "a lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator",
        "NamedExpr": "assignment (:=)",
        "JoinedStr": "an f-string",
        "Dict": "a dict literal",
        "Set": "a set literal",
        "Starred": "unpacking (*)",
        "Await": "await",
        "Yield": "yield",
    }
    return readable.get(kind, f"`{kind}`")


def _names(allowed_fields: Mapping[str, Any]) -> str:
    return ", ".join(f"`{name}`" for name in allowed_fields)


class _Evaluator(EvalWithCompoundTypes):  # type: ignore[misc]  # simpleeval ships no type hints
    """simpleeval with attribute access narrowed to reading keys of dicts."""

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            raise ExpressionError(f"`.{node.attr}`: names starting with `_` are not allowed")
        value = self._eval(node.value)
        if not isinstance(value, Mapping):
            raise ExpressionError(
                f"`.{node.attr}`: attributes can only be read from event, customer, journey"
            )
        if node.attr not in value:
            raise ExpressionError(f"missing key `{ast.unparse(node)}`")
        return value[node.attr]

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        try:
            return container[key]
        except (KeyError, IndexError, TypeError):
            raise ExpressionError(f"missing key `{ast.unparse(node)}`") from None


@lru_cache(maxsize=1024)
def _parse(expr: str) -> ast.Expression:
    """Parsed and checked once per expression text (same result every time: safe in workflows)."""
    anything: dict[str, None] = dict.fromkeys(NAMES)
    structural = [p for p in check_expression(expr, anything) if not p.startswith("unknown name")]
    if structural:
        raise ExpressionError("; ".join(structural))
    return ast.parse(expr.strip(), mode="eval")


def evaluate(expr: str, namespace: Mapping[str, Any]) -> Any:
    """The value of `expr` with `namespace` (e.g. {"event": {...}, "customer": {...}, "journey": {...}}).

    Raises ExpressionError for every failure, including a key the dicts lack.
    """
    tree = _parse(expr)
    # copies: simpleeval adds its own entries to the dicts it is given
    evaluator = _Evaluator(functions=dict(FUNCTIONS), names=dict(namespace))
    try:
        return evaluator.eval(expr.strip(), previously_parsed=tree.body)
    except ExpressionError:
        raise
    except Exception as error:  # simpleeval and Python raise many kinds; callers need one
        raise ExpressionError(f"{expr!r}: {error}") from error


def evaluate_datetime(expr: str, namespace: Mapping[str, Any]) -> datetime:
    """The aware datetime `expr` gives (a datetime or an ISO 8601 string with a zone), for `wait.until`."""
    value = evaluate(expr, namespace)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ExpressionError(f"{expr!r} gave {value!r}, which is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ExpressionError(f"{expr!r} gave {value!r}, not a timestamp with a time zone")
    return value
