"""Sandboxed expressions: the `when` of triggers, waits, goals and branches, and computed values.

Language: Python expression syntax over the names `event`, `customer` and `journey` (and `trigger`
inside `wait_for` and `goal` conditions, where `event` is the awaited event), all plain dicts.
`event.projected_amount` reads the key `projected_amount`; `event["projected_amount"]` does too.
Allowed: literals, arithmetic, comparisons (also chained and `in`), `and`/`or`/`not`,
`x if c else y`, and calls of the functions in FUNCTIONS and of the date and history functions
(dsl/functions.py: now, days_since, local_date, had, in_journey). Nothing else: no other calls, no
attribute access on anything but those dicts, no names starting with `_`, no comprehensions or lambdas.
At load time `check_expression` also checks the keys and string values it reads against what each
name holds (dsl/field_shapes.py).

Semantics at run time (`evaluate`): a missing key or name, a type error (`None > 1`), a division by
zero and every other failure raise ExpressionError. Callers decide what that means; the engine treats
a failing condition as false (the trigger does not match, the branch case is skipped).

`evaluate` runs inside Temporal workflow code: it is pure, deterministic and does no I/O.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, IterableTooLong, NumberTooHigh

from gridjourney.dsl import functions
from gridjourney.dsl.expression_bounds import ExpressionTooComplex, parse_bounded
from gridjourney.dsl.field_shapes import ANY, Shape, check_fields, check_literals, outside_where
from gridjourney.dsl.functions import FACTS, SIGNATURES, USAGE, Facts, bound_functions, had_arguments
from gridjourney.dsl.suggestions import did_you_mean
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
# Every function an expression may call: the plain ones and the date and history ones.
ALL_FUNCTIONS = (*FUNCTIONS, *SIGNATURES)
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
    ast.keyword,
)
# Close enough to be a typo of a known event type (as the compiler judges triggers' types).
EVENT_TYPE_CUTOFF = 0.75


class ExpressionError(ValueError):
    """An expression could not be evaluated (missing key, wrong type, forbidden construct)."""


class ExpressionTooCostly(ExpressionError):
    """An expression went past the evaluator's bounds on a value (a string or list too long to build,
    a number too large): unlike a missing key, that is the expression's fault, whatever the event."""


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


def check_expression(expr: str, allowed_fields: Mapping[str, Scope], *, names: bool = True) -> list[str]:
    """Problems with `expr`, or [] when it is fine. Run at load time; never evaluates anything.

    `allowed_fields` maps each name the expression may use to the keys it may read from it: a set
    of keys (each holding anything), a Shape (nested keys, string values), or None (any key).
    `names=False` checks the structure only (no names, no event types: nothing is read from files).
    """
    try:
        tree, durations = functions.parse(expr)
    except SyntaxError as error:
        if isinstance(error, ExpressionTooComplex):
            return [error.msg]
        where = f" at character {error.offset}" if error.offset else ""
        return [f"not a valid expression: {error.msg}{where}"]
    problems: list[str] = []
    _visit(tree, allowed_fields, problems, names)
    if not names:
        return [p for p in dict.fromkeys(problems) if not p.startswith("unknown name")]
    shapes = {name: as_shape(scope) for name, scope in allowed_fields.items()}
    problems.extend(check_fields(tree, shapes))
    problems.extend(check_literals(tree, shapes))
    problems.extend(_check_durations(tree, durations))
    return list(dict.fromkeys(problems))


def check_condition(expr: str, allowed_fields: Mapping[str, Scope]) -> list[str]:
    """check_expression for a condition (`when`, an audience, a `where`): also refuses a value that
    is not True or False. A condition written in quotes inside the YAML string (`when: "'a == b'"`)
    is a non-empty string, always true: it would silently match everyone."""
    problems = check_expression(expr, allowed_fields)
    try:
        tree = parse_bounded(expr.strip())
    except SyntaxError:
        return problems
    if isinstance(tree.body, ast.Constant) and not isinstance(tree.body.value, bool):
        problems.append(
            f"{ast.unparse(tree.body)} is a value, not a condition: it would always hold (or never); "
            "write the comparison itself, without quotes around it"
        )
    return problems


def _check_durations(tree: ast.AST, durations: frozenset[tuple[int, int]]) -> list[str]:
    """A duration literal (`60d`) is had()'s window; anywhere else it would be mere text."""
    if not durations:
        return []
    windows = {id(had_arguments(call)[1]) for call in functions.calls(tree, "had")}
    windows |= {  # a misspelt had()'s too: its name is what is wrong
        id(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for k in node.keywords
        if k.arg == "within"
    }
    return [
        f"`{node.value!s}` is a duration: only had()'s `within` takes one; count days with "
        "days_since(...) (a number)"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and (node.lineno, node.col_offset) in durations
        and id(node) not in windows
    ]


def as_shape(scope: Scope) -> Shape:
    if scope is None:
        return ANY
    if isinstance(scope, Shape):
        return scope
    return Shape(keys=dict.fromkeys(scope, ANY))


def _visit(node: ast.AST, allowed_fields: Mapping[str, Any], problems: list[str], names: bool) -> None:
    """Report forbidden constructs, without descending into them (one message per construct)."""
    if not isinstance(node, _NODES):
        problems.append(f"{_describe(node)} is not allowed in expressions")
        return
    children: list[ast.AST] = list(ast.iter_child_nodes(node))
    if isinstance(node, ast.Call):
        call_problems = _check_call(node)
        problems.extend(call_problems)
        children = [] if call_problems else [*node.args, *(k.value for k in node.keywords)]
        if not call_problems and isinstance(node.func, ast.Name) and node.func.id == "had":
            problems.extend(_check_had(node, names))
            where = had_arguments(node)[2]
            children = [child for child in children if child is not where]
    elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        problems.append(f"`.{node.attr}`: names starting with `_` are not allowed")
    elif isinstance(node, ast.Name) and node.id.startswith("_"):
        problems.append(f"`{node.id}`: names starting with `_` are not allowed")
    elif isinstance(node, ast.Name) and node.id not in allowed_fields:
        if node.id in ALL_FUNCTIONS:
            problems.append(f"`{node.id}` is a function: call it, e.g. {node.id}(...)")
        elif node.id.lower() in CONSTANTS:
            problems.append(f"unknown name `{node.id}`: write `{CONSTANTS[node.id.lower()]}`")
        else:
            problems.append(f"unknown name `{node.id}`; use {_names(allowed_fields)}")
    for child in children:
        _visit(child, allowed_fields, problems, names)


def _check_call(node: ast.Call) -> list[str]:
    if not isinstance(node.func, ast.Name):
        return [f"calling `{ast.unparse(node.func)}` is not allowed; functions: {', '.join(ALL_FUNCTIONS)}"]
    name = node.func.id
    if name not in ALL_FUNCTIONS:
        return [
            f"calling `{name}` is not allowed: unknown function; "
            + did_you_mean(name, ALL_FUNCTIONS, "functions")
        ]
    starred = any(isinstance(arg, ast.Starred) for arg in node.args)
    if name in FUNCTIONS:
        return [f"`{name}` takes plain positional arguments only"] if node.keywords or starred else []
    if starred or any(k.arg is None for k in node.keywords):
        return [f"`{name}` takes plain arguments only; write e.g. {USAGE[name]}"]
    least, most, keywords = SIGNATURES[name]
    usage = f"write e.g. {USAGE[name]}"
    unknown = [k.arg for k in node.keywords if k.arg not in keywords]
    if unknown:
        takes = f"it takes {', '.join(keywords)}" if keywords else "it takes no named arguments"
        return [f"`{name}()` has no argument `{unknown[0]}`: {takes}; {usage}"]
    count = len(node.args)
    if not least <= count <= most:
        wanted = f"{least}" if least == most else f"{least} to {most}"
        plural = "" if wanted == "1" else "s"
        return [f"`{name}()` takes {wanted} argument{plural}, not {count}; {usage}"]
    if name == "had" and count == 2 and any(k.arg == "within" for k in node.keywords):
        return [f"`had()` was given its window twice; {usage}"]
    if name in ("had", "in_journey") and not (
        isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    ):
        what = "an event type" if name == "had" else "a journey id"
        return [f"`{name}()` takes {what} written as text; {usage}"]
    return []


def _check_had(node: ast.Call, names: bool) -> list[str]:
    """had()'s window is a bounded duration; with `names`, its event type is known and its `where`
    reads that type's fields (checked like any expression, with `event` the past event)."""
    type_node, within, where = had_arguments(node)
    assert isinstance(type_node, ast.Constant)  # _check_call made sure
    event_type = str(type_node.value)
    problems = []
    window = functions.window_problem(within)
    if window is not None:
        problems.append(window)
    if isinstance(where, ast.Constant):
        # a quoted condition is a string, always true: the filter would silently match every event
        problems.append(
            f"had()'s where {ast.unparse(where)} is a value, not a condition over the past event: "
            "write it without quotes, e.g. where=event.amount > 100"
        )
        where = None
    if not names:
        return problems
    fields = event_fields(event_type)
    if fields is None:
        known = sorted(known_event_types())
        close = difflib.get_close_matches(event_type, known, n=1, cutoff=EVENT_TYPE_CUTOFF)
        hint = (
            f"did you mean `{close[0]}`?"
            if close
            else "declare it in events/*.yaml, or see `journeys schema`"
        )
        problems.append(f"had(): unknown event type `{event_type}`; {hint}")
    elif where is not None:
        text = ast.unparse(where)
        # here, not at the top: the workflows import this module, and this brings in cryptography
        from gridjourney.privacy.fields import PERSONAL_FIELDS

        # sealed in the log with the customer's key (privacy/fields.py): the loader reads them sealed
        personal = sorted(fields_read(text, "event") & set(PERSONAL_FIELDS.get(event_type, {})))
        if personal:
            problems.append(
                f"had()'s where {text!r}: `{personal[0]}` is personal data, sealed in the log; "
                "had() cannot read it"
            )
        for problem in check_expression(text, {"event": fields}):
            if "had()" in problem or "in_journey" in problem:
                continue
            problems.append(f"had()'s where {text!r}: {problem}")
        if any(functions.uses_functions(text, [n]) for n in SIGNATURES):
            problems.append(
                f"had()'s where {text!r}: reads the past event only (no date or history functions)"
            )
    return problems


def fields_read(expr: str, name: str) -> frozenset[str]:
    """The keys `expr` reads from `name` (`event.x`, `event["x"]`); empty when it does not parse."""
    try:
        tree, _ = functions.parse(expr)
    except SyntaxError:
        return frozenset()
    found = (_first_key(node) for node in outside_where(tree))
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
    """simpleeval with attribute access narrowed to reading keys of dicts, and had() read from facts."""

    facts: Facts | None = None

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

    def _eval_call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id == "had":
            # `where` is not evaluated here: the loader did, over the past events (dsl/functions.py)
            event_type, within, where = had_arguments(node)
            if self.facts is None:
                raise ExpressionError("had() has no facts here (a date or history is not known)")
            return self.facts.had(
                self._eval(event_type), self._eval(within), None if where is None else ast.unparse(where)
            )
        return super()._eval_call(node)

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        try:
            return container[key]
        except (KeyError, IndexError, TypeError):
            raise ExpressionError(f"missing key `{ast.unparse(node)}`") from None


@lru_cache(maxsize=1024)
def _parse(expr: str) -> ast.Expression:
    """Parsed and checked once per expression text (same result every time: safe in workflows).
    Only the structure is checked here: names and event types were checked when the journey loaded."""
    structural = check_expression(expr, dict.fromkeys(NAMES), names=False)
    if structural:
        raise ExpressionError("; ".join(structural))
    return functions.parse(expr)[0]


def evaluate(expr: str, namespace: Mapping[str, Any]) -> Any:
    """The value of `expr` with `namespace` (e.g. {"event": {...}, "customer": {...}, "journey": {...}}).
    The date and history functions read the namespace's Facts (under FACTS), if it has them.

    Raises ExpressionError for every failure, including a key the dicts lack.
    """
    tree = _parse(expr)
    facts = namespace.get(FACTS)
    # copies: simpleeval adds its own entries to the dicts it is given
    names = {name: value for name, value in namespace.items() if name != FACTS}
    evaluator = _Evaluator(functions={**FUNCTIONS, **bound_functions(facts)}, names=names)
    evaluator.facts = facts
    try:
        return evaluator.eval(expr.strip(), previously_parsed=tree.body)
    except ExpressionError:
        raise
    except (IterableTooLong, NumberTooHigh) as error:
        raise ExpressionTooCostly(f"{expr!r}: {error}") from error
    except Exception as error:  # simpleeval and Python raise many kinds; callers need one
        raise ExpressionError(f"{expr!r}: {error}") from error


def condition(expr: str) -> Callable[[Mapping[str, Any]], bool]:
    """`expr` as a test of many namespaces (the past events a had() reads), with one evaluator for
    them all: building one costs more than most evaluations. A failing evaluation is false."""
    tree = _parse(expr)
    evaluator = _Evaluator(functions={**FUNCTIONS, **bound_functions(None)}, names={})
    text = expr.strip()

    def test(namespace: Mapping[str, Any]) -> bool:
        evaluator.names = dict(namespace)
        try:
            return bool(evaluator.eval(text, previously_parsed=tree.body))
        except Exception:  # a failing condition is false (DSL rule)
            return False

    return test


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
