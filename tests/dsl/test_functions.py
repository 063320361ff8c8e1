"""The date and history functions: load-time checks (arity, event types, windows, `where`) and their
values from facts (no facts: a failing expression, never a wall clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridjourney.dsl.expressions import ExpressionError, check_expression, condition, evaluate
from gridjourney.dsl.functions import (
    FACTS,
    MAX_WINDOW,
    Facts,
    HistoryUse,
    history_key,
    history_uses,
    journeys_named,
    with_duration_literals,
)

SCOPE = {"event": {"amount", "due_date"}, "customer": None, "journey": {"id"}}
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # still the 29th in Chicago
HIGH_BILLS = history_key("bill.issued", "event.amount > 100")


def facts(**changes: object) -> Facts:
    values: dict[str, object] = {
        "now": NOW,
        "zone": "America/Chicago",
        "last_seen": {HIGH_BILLS: NOW - timedelta(days=10)},
        "journeys": frozenset({"onboarding"}),
    }
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


def value(expr: str, given: Facts | None = None, event: dict[str, object] | None = None) -> object:
    namespace: dict[str, object] = {"event": event or {}, "customer": {}, "journey": {}}
    namespace[FACTS] = given or facts()
    return evaluate(expr, namespace)


@pytest.mark.parametrize(
    "expr",
    [
        'had("bill.issued", within=60d, where=event.amount > 100)',
        'had("bill.issued", within="2w")',
        'had("message.sent", within=30d, where=event.journey_id == "high_bill_alert")',
        'not in_journey("onboarding") and days_since(event.due_date) >= 3',
        'local_date() >= "2026-11-01" and now() != 1',
    ],
)
def test_check_accepts(expr: str) -> None:
    assert check_expression(expr, SCOPE) == []


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("days_sinc(event.due_date)", "unknown function; did you mean `days_since`?"),
        ("now(1)", "`now()` takes 0 arguments, not 1"),
        ('in_journey("a", "b")', "`in_journey()` takes 1 argument, not 2"),
        ("in_journey(event.amount)", "takes a journey id written as text"),
        ('had("bill.issued", within=60d, since=3)', "`had()` has no argument `since`"),
        ('had("bill.isued", within=60d)', "unknown event type `bill.isued`; did you mean `bill.issued`?"),
        ('had("bill.issued")', "had() needs a window"),
        ('had("bill.issued", within=500d)', "too long: at most 400d"),
        ('had("bill.issued", within="soon")', "is not a duration"),
        ('had("bill.issued", within=event.amount)', "a duration written as such"),
        (
            'had("bill.issued", within=60d, where=event.amonut > 1)',
            "has no field `amonut`; did you mean `amount`?",
        ),
        (
            'had("bill.issued", within=60d, where=customer.segment == "x")',
            "unknown name `customer`; use `event`",
        ),
        ('had("bill.issued", within=60d, where=had("bill.issued", within=1d))', "reads the past event only"),
        ("event.amount > 60d", "`60d` is a duration: only had()'s `within` takes one"),
        ("_facts", "names starting with `_` are not allowed"),
        ('had("message.received", within=7d, where=event.body == "STOP")', "`body` is personal data, sealed"),
        ('had("bill.issued", within=60d, where="event.amount > 1")', "is a value, not a condition"),
        ('had("bill.issued", within=60d, where=True)', "write it without quotes"),
    ],
)
def test_check_refuses(expr: str, problem: str) -> None:
    problems = check_expression(expr, SCOPE)
    assert any(problem in p for p in problems), problems


def test_where_reads_the_past_event_not_the_current_one() -> None:
    # the journey's own `event` has no fields here; bill.issued has a due_date
    problems = check_expression(
        'had("bill.issued", within=60d, where=event.due_date != "")', {"event": set()}
    )
    assert problems == []


def test_history_uses_and_journeys_are_what_the_loader_fetches() -> None:
    expr = 'had("bill.issued", within=60d, where=event.amount > 100) or in_journey("onboarding")'
    assert history_uses(expr) == [HistoryUse("bill.issued", timedelta(days=60), "event.amount > 100")]
    assert journeys_named(expr) == {"onboarding"}
    assert history_uses('had("x.y", within="900d")')[0].within == MAX_WINDOW


def test_duration_literals_become_text_at_their_places() -> None:
    text, places = with_duration_literals("had('a', within=60d) or 1d12h")
    assert text == "had('a', within='60d') or '1d12h'"
    assert places == {(1, 16), (1, 26)}


def test_had_counts_the_newest_matching_event_within_the_window() -> None:
    assert value('had("bill.issued", within=60d, where=event.amount > 100)') is True
    assert value('had("bill.issued", within=10d, where=event.amount > 100)') is True
    assert value('had("bill.issued", within=9d, where=event.amount > 100)') is False
    # another condition is another history: nothing was loaded for it
    assert value('had("bill.issued", within=60d)') is False


def test_dates_in_the_customers_zone() -> None:
    assert value("local_date()") == "2026-11-29"
    assert value("local_date()", facts(zone="Europe/London")) == "2026-11-30"
    assert value("now()") == NOW
    assert value("days_since(event.due_date)", event={"due_date": "2026-11-20"}) == 9.0
    assert value('days_since("2026-11-29T03:00:00+00:00")') == 1.0
    assert value('in_journey("onboarding") and not in_journey("rate_coach")') is True


@pytest.mark.parametrize(
    "expr",
    ['days_since("soon")', 'days_since("2026-11-29T03:00:00")', "days_since(3)"],
)
def test_days_since_refuses_what_is_no_date(expr: str) -> None:
    with pytest.raises(ExpressionError):
        value(expr)


@pytest.mark.parametrize(
    "expr", ["now()", "local_date()", 'had("bill.issued", within=1d)', 'in_journey("onboarding")']
)
def test_without_facts_the_functions_fail_rather_than_read_a_clock(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, {"event": {}, "customer": {}, "journey": {}})


def test_history_not_loaded_fails() -> None:
    with pytest.raises(ExpressionError, match="not loaded"):
        value('had("bill.issued", within=1d)', facts(last_seen=None))
    with pytest.raises(ExpressionError, match="not loaded"):
        value('in_journey("onboarding")', facts(journeys=None))


def test_a_condition_tests_many_events_with_one_evaluator() -> None:
    test = condition("event.amount > 100")
    assert [test({"event": {"amount": a}}) for a in (50, 150, 101)] == [False, True, True]
    assert test({"event": {}}) is False  # a failing evaluation is false
