"""The event envelope: a documented customer_id, RFC 3339 times within bounds, int32 schema versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from gridjourney.events.fields import ADMISSION, Admission
from gridjourney.events.models import NewEvent

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DOOR = {
    ADMISSION: Admission(
        now=NOW, max_future=timedelta(days=1), max_past=timedelta(days=3650), locales=frozenset({"en"})
    )
}


def envelope(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "0b7f6c1e-3d2a-4f7b-9a51-2f8c1d9e4a10",
        "type": "usage.reduced",
        "customer_id": "C-1001",
        "occurred_at": "2026-11-29T08:00:00Z",
        "source": "mdm",
        "payload": {"kwh_saved": 1.0, "period_days": 1},
    }
    return event | overrides


def refused_fields(context: dict[str, Any] | None = None, **overrides: Any) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        NewEvent.model_validate(envelope(**overrides), context=context)
    return {".".join(str(part) for part in e["loc"]) for e in caught.value.errors()}


def test_a_valid_envelope_passes_the_door() -> None:
    assert NewEvent.model_validate(envelope(), context=DOOR).customer_id == "C-1001"


@pytest.mark.parametrize("customer_id", ["", " C-1", "C 1", "-C1", "x" * 101, "C-1\x00"])
def test_customer_id_follows_the_pattern(customer_id: str) -> None:
    assert refused_fields(customer_id=customer_id) == {"customer_id"}


@pytest.mark.parametrize(
    "event_type",
    ["customer.created", "consent.changed", "bill.issued", "meter.anomaly_detected", "usage.reduced"],
)
def test_events_about_a_customer_need_its_id(event_type: str) -> None:
    assert refused_fields(type=event_type, customer_id=None) == {"customer_id"}


def test_feeder_events_need_no_customer() -> None:
    event = NewEvent.model_validate(
        envelope(type="outage.detected", customer_id=None, payload={"incident_id": "I-1"})
    )
    assert event.customer_id is None


@pytest.mark.parametrize(
    "occurred_at", [0, 1700000000, "1700000000", "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "yesterday"]
)
def test_occurred_at_must_be_a_sane_rfc3339_string(occurred_at: object) -> None:
    assert refused_fields(occurred_at=occurred_at) == {"occurred_at"}


def test_occurred_at_bounds_apply_at_the_door() -> None:
    ahead = (NOW + timedelta(days=2)).isoformat()
    long_ago = (NOW - timedelta(days=3651)).isoformat()
    assert refused_fields(DOOR, occurred_at=ahead) == {"occurred_at"}
    assert refused_fields(DOOR, occurred_at=long_ago) == {"occurred_at"}
    # Stored events are read back without a door: their time never makes them unreadable.
    assert NewEvent.model_validate(envelope(occurred_at=long_ago)).occurred_at.year == 2016


def test_schema_version_fits_the_integer_column() -> None:
    assert refused_fields(schema_version=2**63) == {"schema_version"}
    assert refused_fields(schema_version=2**31) == {"schema_version"}
    assert NewEvent.model_validate(envelope(schema_version=2**31 - 1)).schema_version == 2**31 - 1


def test_source_and_type_fit_their_columns_and_carry_no_nul() -> None:
    assert refused_fields(source="s" * 101) == {"source"}
    assert refused_fields(source="") == {"source"}
    assert refused_fields(source="mdm\x00") == {"source"}
