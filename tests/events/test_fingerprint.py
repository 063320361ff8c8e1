"""The compact content form: equal for the same event however its sender wrote it, different otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gridjourney.events.fingerprint import content

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), values, max_size=6)
instants = st.datetimes(datetime(1900, 1, 2), datetime(2199, 12, 30), timezones=st.just(UTC))
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def form(payload: dict[str, Any], occurred_at: datetime, *, source: str = "billing") -> bytes:
    return content(
        event_type="bill.issued",
        customer_id="C-1",
        occurred_at=occurred_at,
        source=source,
        payload=payload,
        schema_version=1,
    )


def reversed_keys(value: Any) -> Any:
    """`value` with every object's keys in the opposite order (the same JSON content)."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


@given(payloads, instants, offsets)
def test_the_order_of_keys_and_the_zone_of_the_time_do_not_count(
    payload: dict[str, Any], occurred_at: datetime, zone: timezone
) -> None:
    assert form(reversed_keys(payload), occurred_at.astimezone(zone)) == form(payload, occurred_at)


@given(payloads, instants, st.text(max_size=8), values)
def test_another_value_another_time_or_another_source_count(
    payload: dict[str, Any], occurred_at: datetime, key: str, value: Any
) -> None:
    original = form(payload, occurred_at)
    if payload.get(key, object()) != value or type(payload.get(key)) is not type(value):
        assert form({**payload, key: value}, occurred_at) != original
    assert form(payload, occurred_at + timedelta(microseconds=1)) != original
    assert form(payload, occurred_at, source="crm") != original
