"""Sandboxed expressions: what is allowed, what is refused at load time, and run-time semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gridjourney.dsl.expressions import (
    ExpressionError,
    check_expression,
    evaluate,
    evaluate_datetime,
    event_fields,
    fields_read,
)

BILL = event_fields("bill.projection_updated")
SCOPE: dict[str, Any] = {"event": BILL, "customer": None, "journey": frozenset({"id", "version"})}
NS: dict[str, Any] = {
    "event": {
        "projected_amount": 182.4,
        "typical_amount": 120.0,
        "days_left": 9,
        "type": "bill.projection_updated",
    },
    "customer": {"locale": "es", "scores": {"dr_propensity": 0.72}, "tags": ["ev", "solar"]},
    "journey": {"id": "high_bill_alert", "version": 3},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("event.projected_amount >= 1.3 * event.typical_amount and event.days_left >= 7", True),
        ("customer.scores.dr_propensity > 0.6", True),
        ('event["days_left"] - 2', 7),
        ("max(event.days_left, 10) + min(1, 2) + abs(-1) + len(customer.tags)", 14),
        ("round(event.projected_amount / event.typical_amount, 2)", 1.52),
        ("customer.locale in ['es', 'pt']", True),
        ("'solar' in customer.tags and not journey.version < 3", True),
        ("0 < event.days_left <= 9", True),
        ("'high' if event.projected_amount > 150 else 'normal'", "high"),
        ("journey.id == 'high_bill_alert' or False", True),
        ("str(journey.version) + '!'", "3!"),
    ],
)
def test_evaluate(expr: str, expected: Any) -> None:
    assert evaluate(expr, NS) == expected
    assert check_expression(expr, SCOPE) == []


@pytest.mark.parametrize(
    "expr",
    [
        "event.nope > 1",  # missing key
        "customer.scores.churn > 0.5",  # missing nested key
        "event['nope']",
        "trigger.incident_id",  # name not in the namespace
        "event.projected_amount > None",  # type error
        "event.days_left / 0",
        "customer.tags[5]",
    ],
)
def test_runtime_failures_raise_expression_error(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, NS)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("event.keys()", "calling `event.keys` is not allowed"),
        ("open('/etc/passwd')", "calling `open` is not allowed"),
        ("__import__('os')", "calling `__import__` is not allowed"),
        ("event.__class__", "`.__class__`: names starting with `_` are not allowed"),
        ("().__class__.__bases__", "names starting with `_` are not allowed"),
        ("[x for x in customer.tags]", "a comprehension is not allowed"),
        ("(lambda: 1)()", "calling `lambda: 1` is not allowed"),
        ("lambda: 1", "a lambda is not allowed"),
        ("f'{event}'", "an f-string is not allowed"),
        ("{'a': 1}", "a dict literal is not allowed"),
        ("max(*customer.tags)", "`max` takes plain positional arguments only"),
        ("round(number=1)", "`round` takes plain positional arguments only"),
        ("max", "`max` is a function"),
        ("(y := 1)", "assignment (:=) is not allowed"),
        ("os.system", "unknown name `os`"),
        ("event.projected_amount >", "not a valid expression"),
        ("event.projected_amout > 100", "`event` has no field `projected_amout`"),
        ("event['typical'] > 1", "`event` has no field `typical`"),
        ("journey.name", "`journey` has no field `name`"),
    ],
)
def test_check_refuses(expr: str, problem: str) -> None:
    problems = check_expression(expr, SCOPE)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "expr", ["event.keys()", "event.__class__", "[x for x in customer.tags]", "open('x')"]
)
def test_evaluate_refuses_forbidden_constructs_too(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, NS)


def test_attribute_access_only_reads_dict_keys() -> None:
    with pytest.raises(ExpressionError, match="only be read from"):
        evaluate("customer.locale.upper", NS)
    with pytest.raises(ExpressionError, match="only be read from"):
        evaluate("event.days_left.real", NS)


def test_customer_attributes_are_free_form_at_load_time() -> None:
    assert check_expression("customer.anything.deep > 1", SCOPE) == []


def test_unknown_event_type_allows_any_field() -> None:
    assert event_fields("no.such_event") is None
    assert check_expression("event.whatever", {"event": None}) == []


def test_event_fields_include_the_envelope() -> None:
    assert BILL is not None and {"type", "occurred_at", "projected_amount"} <= BILL


def test_evaluate_is_deterministic_and_does_not_mutate_the_namespace() -> None:
    snapshot = repr(NS)
    results = {evaluate("customer.scores.dr_propensity * 2", NS) for _ in range(5)}
    assert results == {1.44}
    assert repr(NS) == snapshot


def test_evaluate_datetime() -> None:
    ns = {"event": {"start": "2026-07-14T22:00:00+00:00", "naive": "2026-07-14T22:00:00", "n": 3}}
    assert evaluate_datetime("event.start", ns) == datetime(2026, 7, 14, 22, tzinfo=UTC)
    aware = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-8)))
    assert evaluate_datetime("event.t", {"event": {"t": aware}}) == aware
    for bad in ("event.naive", "event.n", "'tomorrow'"):
        with pytest.raises(ExpressionError):
            evaluate_datetime(bad, ns)


def test_fields_read_names_the_keys_an_expression_reads() -> None:
    assert fields_read("event.dr_event_id", "event") == {"dr_event_id"}
    assert fields_read("event['incident_id'] + ':' + customer.premise_id", "event") == {"incident_id"}
    assert fields_read("customer.segment", "event") == frozenset()
    assert fields_read("event.", "event") == frozenset()
