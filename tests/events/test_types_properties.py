"""Property-based: any input to the event schemas gives a stored value or a clean ValidationError, and a
stored value is always foldable again (what a projection does with it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gridjourney.api.middleware import json_body_problems
from gridjourney.events.fields import ADMISSION, Admission, clean_text_problem
from gridjourney.events.models import NewEvent
from gridjourney.events.types import EVENT_TYPES, UnknownEventType, payload_model, validate_payload

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOOR = {
    ADMISSION: Admission(
        now=datetime.now(UTC),
        max_future=timedelta(days=1),
        max_past=timedelta(days=3650),
        locales=frozenset({"en", "es"}),
    )
}

# Strings that hit the validators' edges: NUL, lone surrogates, zones, phones, emails, times, long runs.
EDGE_STRINGS = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "a" * 101,
        "x" * 5000,
        "UTC",
        "Mars/Olympus",
        "+15035550142",
        "+1503555",
        "ana@example.com",
        "not an email",
        "en",
        "xx",
        "2025-07-14T08:00:00Z",
        "2025-07-14T08:00:00",
        "1700000000",
        "9999-12-31T23:59:59-14:00",
        "Infinity",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None), max_size=30),
    EDGE_STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10) | EDGE_STRINGS, children, max_size=5),
    ),
    max_leaves=30,
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A registered type and a payload made of its own field names (and some strangers)."""
    event_type = draw(st.sampled_from(sorted(EVENT_TYPES)))
    names = sorted(payload_model(event_type).model_fields)
    keys = (st.sampled_from(names) | st.text(max_size=8)) if names else st.text(max_size=8)
    return event_type, draw(st.dictionaries(keys, JSON_VALUES, max_size=len(names) + 1))


def assert_storable(value: Any) -> None:
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)  # no NaN/Infinity reach JSONB
    assert "\\u0000" not in text
    assert clean_text_problem(text) is None


@FAST
@given(payloads(), st.booleans())
def test_a_payload_is_stored_foldable_or_refused_cleanly(
    case: tuple[str, dict[str, Any]], at_door: bool
) -> None:
    event_type, payload = case
    try:
        stored = validate_payload(event_type, payload, DOOR if at_door else None)
    except ValidationError:
        return
    assert_storable(stored)
    assert validate_payload(event_type, stored) == stored  # the fold reads what was stored, unchanged


@FAST
@given(st.text(max_size=30) | EDGE_STRINGS, JSON_VALUES)
def test_unknown_types_and_shapes_are_refused_cleanly(event_type: str, payload: Any) -> None:
    try:
        validate_payload(event_type, payload if isinstance(payload, dict) else {"value": payload})
    except (ValidationError, UnknownEventType):
        return


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    fields = ["event_id", "type", "customer_id", "occurred_at", "source", "payload", "schema_version"]
    base: dict[str, Any] = {
        "event_id": "0b7f6c1e-3d2a-4f7b-9a51-2f8c1d9e4a10",
        "type": draw(st.sampled_from(sorted(EVENT_TYPES))),
        "customer_id": "C-1",
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": "test",
        "payload": {},
    }
    for name in draw(st.lists(st.sampled_from(fields), max_size=3, unique=True)):
        base[name] = draw(JSON_VALUES)
    return base


@FAST
@given(envelopes(), st.booleans())
def test_an_envelope_is_accepted_storable_or_refused_cleanly(envelope: dict[str, Any], at_door: bool) -> None:
    try:
        event = NewEvent.model_validate(envelope, context=DOOR if at_door else None)
    except ValidationError:
        return
    assert event.occurred_at.utcoffset() is not None
    assert event.schema_version < 2**31
    assert_storable(event.model_dump(mode="json"))


@FAST
@given(st.binary(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_the_json_guard_answers_every_body(body: bytes) -> None:
    problems = json_body_problems(body)
    assert problems is None or all(problem.field for problem in problems)
