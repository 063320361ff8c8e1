"""The date and history functions of expressions: `now()`, `days_since(x)`, `local_date()`,
`had(event_type, within=60d, where=...)` and `in_journey(id)`.

They read facts, never the world: `Facts` carries the moment (in a workflow `workflow.now()`, in the
router the routed event's time), the zone `local_date()` reads, and what the customer-context loader
read from the log and the projections for this customer (activities/context.py). The loader reads
only what the journey's expressions ask (`wanted_facts`): for each `had()`, the newest event of its
type within its window (at most MAX_WINDOW, at most HISTORY_ROWS rows) for which `where` holds; for
`in_journey()`, whether the customer has an active run of the journey. So evaluation stays pure and
deterministic. Where no facts were given (a cohort step, a preview), the functions fail, and a failing
condition is false.

`had()`'s window is written as a duration literal (`within=60d`) or as text (`within="60d"`); its
`where` is an expression over the past event (`event.*`), evaluated by the loader, not at the call.
The event that started the journey never counts in `had()`: "had a high-bill alert before" must not
be true because of the alert being handled.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gridjourney.dsl.durations import DURATION_PATTERN, parse_duration
from gridjourney.dsl.expression_bounds import MAX_EXPRESSION_CHARS, parse_bounded

# The longest `within` of had(), and the rows one had() reads at most per load: bounded work per customer.
MAX_WINDOW = timedelta(days=400)
HISTORY_ROWS = 500
# The name under which a namespace carries its Facts (expressions cannot name it: `_` is refused).
FACTS = "_facts"
# name -> (least, most) positional arguments, and the keywords it takes.
SIGNATURES: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "now": (0, 0, ()),
    "days_since": (1, 1, ()),
    "local_date": (0, 0, ()),
    "had": (1, 2, ("within", "where")),
    "in_journey": (1, 1, ()),
}
USAGE = {
    "now": "now()",
    "days_since": "days_since(event.due_date)",
    "local_date": "local_date()",
    "had": 'had("bill.issued", within=60d, where=event.amount > 100)',
    "in_journey": 'in_journey("onboarding")',
}
HISTORY_FUNCTIONS = frozenset({"had", "in_journey"})
_DURATION_WORD = re.compile(r"[smhdw](\d+[smhdw])*")


class FunctionError(ValueError):
    """A function could not give a value (no facts here, a value that is no date)."""


@dataclass(frozen=True)
class HistoryUse:
    """One `had()` as the loader needs it: which events, over how long, with which condition."""

    event_type: str
    within: timedelta
    where: str | None

    @property
    def key(self) -> str:
        return history_key(self.event_type, self.where)


def history_key(event_type: str, where: str | None) -> str:
    """The facts' key of a had(): its type and its condition's canonical text (ast.unparse)."""
    return f"{event_type}|{where or ''}"


@dataclass(frozen=True)
class Facts:
    """What the functions read. `last_seen` (history key -> the newest matching event's time) and
    `journeys` (the asked journeys the customer is in) are None where they were not loaded."""

    now: datetime
    zone: str
    last_seen: Mapping[str, datetime] | None = None
    journeys: frozenset[str] | None = None

    def local_date(self) -> str:
        return self.now.astimezone(ZoneInfo(self.zone)).date().isoformat()

    def days_since(self, value: Any) -> float:
        """Days from `value` to now: a timestamp (fractional days), or a date (whole days, in the zone)."""
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            return float((date.fromisoformat(self.local_date()) - value).days)
        elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return float((date.fromisoformat(self.local_date()) - date.fromisoformat(value.strip())).days)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise FunctionError(f"days_since({value!r}): not a date or a timestamp") from None
        else:
            raise FunctionError(f"days_since({value!r}): not a date or a timestamp")
        if moment.tzinfo is None:
            raise FunctionError(f"days_since({value!r}): a timestamp needs its zone (e.g. +00:00)")
        return (self.now - moment).total_seconds() / 86400

    def had(self, event_type: str, within: Any, where: str | None) -> bool:
        if self.last_seen is None:
            raise FunctionError("had(): the customer's history is not loaded here")
        seen = self.last_seen.get(history_key(event_type, where))
        return seen is not None and seen >= self.now - parse_duration(within)

    def in_journey(self, journey_id: Any) -> bool:
        if self.journeys is None:
            raise FunctionError("in_journey(): the customer's journeys are not loaded here")
        return journey_id in self.journeys


def bound_functions(facts: Facts | None) -> dict[str, Callable[..., Any]]:
    """The functions as one evaluation calls them (`had` is called by the evaluator itself)."""
    if facts is None:

        def unavailable(name: str) -> Callable[..., Any]:
            def fail(*_args: Any, **_kwargs: Any) -> Any:
                raise FunctionError(f"{name}() has no facts here (a date or history is not known)")

            return fail

        return {name: unavailable(name) for name in SIGNATURES}
    return {
        "now": lambda: facts.now,
        "days_since": facts.days_since,
        "local_date": facts.local_date,
        "in_journey": facts.in_journey,
    }


def with_duration_literals(expr: str) -> tuple[str, frozenset[tuple[int, int]]]:
    """`expr` with every duration literal (`60d`, `1d12h`) written as text ('60d'), and where those
    are in the new text ((line, column) as ast gives them), so the checks can tell them from text the
    author wrote. Python cannot parse `60d`; the marketer's `within=60d` should not need quotes."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expr).readline))
    except (tokenize.TokenError, SyntaxError):
        return expr, frozenset()
    joins = [
        (number, word)
        for number, word in itertools.pairwise(tokens)
        if number.type == tokenize.NUMBER
        and number.string.isdigit()
        and word.type == tokenize.NAME
        and word.start == number.end
        and _DURATION_WORD.fullmatch(word.string)
    ]
    if not joins:
        return expr, frozenset()
    lines = expr.splitlines(keepends=True)
    places: set[tuple[int, int]] = set()
    for number, word in reversed(joins):  # from the end: earlier columns stay valid
        row, start = number.start
        end = word.end[1]
        line = lines[row - 1]
        lines[row - 1] = f"{line[:start]}'{number.string}{word.string}'{line[end:]}"
    # the columns in the new text: each earlier literal on the same line added two quotes
    shift: dict[int, int] = {}
    for number, _word in joins:
        row, start = number.start
        places.add((row, start + shift.get(row, 0)))
        shift[row] = shift.get(row, 0) + 2
    return "".join(lines), frozenset(places)


def parse(expr: str) -> tuple[ast.Expression, frozenset[tuple[int, int]]]:
    """The tree of `expr` (duration literals as text) and where its duration literals are; raises
    SyntaxError (ExpressionTooComplex beyond the bounds of dsl/expression_bounds.py)."""
    text = expr.strip()
    if len(text) > MAX_EXPRESSION_CHARS:  # refused before tokenizing it: parse_bounded says why
        parse_bounded(text)
    text, durations = with_duration_literals(text)
    return parse_bounded(text), durations


def calls(tree: ast.AST, name: str) -> Iterable[ast.Call]:
    return (
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    )


def had_arguments(node: ast.Call) -> tuple[ast.expr | None, ast.expr | None, ast.expr | None]:
    """(event type, within, where) of a had() call, each None when not given."""
    keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
    event_type = node.args[0] if node.args else None
    within = node.args[1] if len(node.args) > 1 else keywords.get("within")
    return event_type, within, keywords.get("where")


def history_uses(expr: str) -> list[HistoryUse]:
    """The had() calls of `expr` whose type and window are literals (the checks refuse others)."""
    try:
        tree, _ = parse(expr)
    except SyntaxError:
        return []
    found = []
    for node in calls(tree, "had"):
        event_type, within, where = had_arguments(node)
        if not (_is_text(event_type) and _is_text(within)):
            continue
        assert isinstance(event_type, ast.Constant) and isinstance(within, ast.Constant)
        try:
            window = parse_duration(within.value)
        except ValueError:
            continue
        where_text = None if where is None else ast.unparse(where)
        found.append(HistoryUse(str(event_type.value), min(window, MAX_WINDOW), where_text))
    return found


def journeys_named(expr: str) -> set[str]:
    """The journey ids `expr` asks about with in_journey("...")."""
    try:
        tree, _ = parse(expr)
    except SyntaxError:
        return set()
    return {
        str(node.args[0].value)
        for node in calls(tree, "in_journey")
        if node.args and _is_text(node.args[0]) and isinstance(node.args[0], ast.Constant)
    }


def wanted_by(expressions: Iterable[str]) -> tuple[list[HistoryUse], list[str]]:
    """What the loader must read for these expressions' had() and in_journey() calls: each history
    once (by its key, with the longest window asked), in key order, and the journey ids, sorted."""
    longest: dict[str, HistoryUse] = {}
    journeys: set[str] = set()
    for expr in expressions:
        for use in history_uses(expr):
            known = longest.get(use.key)
            if known is None or known.within < use.within:
                longest[use.key] = use
        journeys |= journeys_named(expr)
    return [longest[key] for key in sorted(longest)], sorted(journeys)


def uses_functions(expr: str, names: Iterable[str]) -> bool:
    try:
        tree, _ = parse(expr)
    except SyntaxError:
        return False
    return any(next(iter(calls(tree, name)), None) is not None for name in names)


def window_problem(node: ast.expr | None) -> str | None:
    """Why had()'s `within` is not a usable window; None when it is."""
    if node is None:
        return "had() needs a window: `within=60d` (at most 400d)"
    if not _is_text(node):
        return "had()'s `within` is a duration written as such, e.g. `within=60d` (not a computed value)"
    assert isinstance(node, ast.Constant)
    if not re.fullmatch(DURATION_PATTERN, str(node.value).strip()):
        return f"had()'s `within` {node.value!r} is not a duration; write e.g. 30d, 12h or 8w"
    if parse_duration(node.value) > MAX_WINDOW:
        return f"had()'s `within` {node.value!r} is too long: at most 400d"
    if parse_duration(node.value) <= timedelta(0):
        return "had()'s `within` must be longer than 0"
    return None


def _is_text(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
