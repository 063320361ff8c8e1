"""Payload schemas: every value they accept fits the tables behind it and can be used by the code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from gridjourney.events.fields import ADMISSION, Admission
from gridjourney.events.types import validate_payload

BILL = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12}


def refused(
    event_type: str, payload: dict[str, Any], context: dict[str, Any] | None = None
) -> dict[str, str]:
    """{field: reason} of the refusal."""
    with pytest.raises(ValidationError) as caught:
        validate_payload(event_type, payload, context)
    return {".".join(str(part) for part in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_phone_numbers_become_e164() -> None:
    stored = validate_payload("customer.created", {"phone": "+1 (503) 555-0142"})
    assert stored["phone"] == "+15035550142"
    assert "phone" in refused("customer.created", {"phone": "not-a-phone"})
    assert "phone" in refused("customer.updated", {"phone": "+1503555"})  # too short to be a number
    assert "phone" in refused("customer.created", {"phone": "5035550142"})  # no country code


def test_email_addresses_are_checked_without_dns() -> None:
    assert validate_payload("customer.created", {"email": "ana@example.com"})["email"] == "ana@example.com"
    assert "email" in refused("customer.created", {"email": "not an email"})
    assert "email" in refused("customer.updated", {"email": "a@" + "b" * 320 + ".com"})


def test_time_zones_are_iana_zones() -> None:
    assert (
        validate_payload("customer.created", {"time_zone": "America/Chicago"})["time_zone"]
        == "America/Chicago"
    )
    for zone in ("Mars/Olympus", "../../etc/passwd", "", "America/Chicago\x00"):
        assert "time_zone" in refused("customer.created", {"time_zone": zone}), zone


def test_locales_follow_the_pattern_and_at_the_door_the_configured_list() -> None:
    assert "locale" in refused("customer.created", {"locale": "english-please"})
    assert validate_payload("customer.created", {"locale": "xx"})["locale"] == "xx"  # a fold has no settings
    door = Admission(
        now=datetime.now(UTC),
        max_future=timedelta(days=1),
        max_past=timedelta(days=1),
        locales=frozenset({"en"}),
    )
    reasons = refused("customer.updated", {"locale": "es"}, {ADMISSION: door})
    assert "configured" in reasons["locale"] and "en" in reasons["locale"]


def test_lengths_match_the_customers_table() -> None:
    assert "name" in refused("customer.created", {"name": "x" * 201})
    assert validate_payload("customer.created", {"name": "x" * 200})["name"] == "x" * 200
    assert "method" in refused(
        "consent.changed", {"channel": "sms", "purpose": "safety", "granted": True, "method": "m" * 101}
    )


def test_numbers_are_finite_and_within_range() -> None:
    assert "days_left" in refused("bill.projection_updated", {**BILL, "days_left": int("9" * 50)})
    assert "projected_amount" in refused(
        "bill.projection_updated", {**BILL, "projected_amount": float("inf")}
    )
    assert "typical_amount" in refused("bill.projection_updated", {**BILL, "typical_amount": float("nan")})
    assert "score" in refused("meter.anomaly_detected", {"anomaly_type": "spike", "score": 1e300})
    assert "period_days" in refused("usage.reduced", {"kwh_saved": 1.0, "period_days": 0})


def test_no_nul_or_lone_surrogate_anywhere() -> None:
    assert "name" in refused("customer.created", {"name": "Ana\x00"})
    assert "name" in refused("customer.created", {"name": "Ana\ud800"})
    assert "attributes" in refused("customer.created", {"attributes": {"plan": {"tier": "gold\x00"}}})
    assert "attributes" in refused("customer.created", {"attributes": {"k\x00": 1}})
    assert "cause" in refused("outage.detected", {"incident_id": "INC-1", "cause": "\ud83d"})


def test_attributes_are_bounded_in_depth_size_and_values() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["x"] = {}
        node = node["x"]
    assert "deeper" in refused("customer.created", {"attributes": deep})["attributes"]
    assert "more than" in refused("customer.created", {"attributes": {"k": list(range(2000))}})["attributes"]
    assert "finite" in refused("customer.updated", {"attributes": {"score": float("inf")}})["attributes"]
    assert "range" in refused("customer.updated", {"attributes": {"n": 2**70}})["attributes"]
    kept = validate_payload("customer.updated", {"attributes": {"tier": "gold", "scores": {"churn": 0.2}}})
    assert kept["attributes"] == {"tier": "gold", "scores": {"churn": 0.2}}


def test_times_in_payloads_are_rfc3339_strings_in_a_sane_range() -> None:
    outage = {"incident_id": "INC-1"}
    assert "restored_at" in refused("outage.restored", {**outage, "restored_at": 1700000000})
    assert "restored_at" in refused("outage.restored", {**outage, "restored_at": "1700000000"})
    assert "restored_at" in refused("outage.restored", {**outage, "restored_at": "0001-01-01T00:00:00+14:00"})
    assert "etr" in refused("outage.etr_updated", {**outage, "etr": "9999-12-31T23:59:59-14:00"})
    stored = validate_payload("outage.restored", {**outage, "restored_at": "2026-07-01T13:00:00+02:00"})
    assert stored["restored_at"] == "2026-07-01T13:00:00+02:00"


@pytest.mark.parametrize("field", ["premise_ids", "feeder_ids"])
@pytest.mark.parametrize("listed", [None, "P-2", 7])
def test_a_single_premise_or_feeder_beside_a_plural_field_that_is_no_list_is_refused_there(
    field: str, listed: object
) -> None:
    single = "premise_id" if field == "premise_ids" else "feeder"
    with pytest.raises(ValidationError) as refused:
        validate_payload("outage.detected", {"incident_id": "I-1", single: "X-1", field: listed})
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]
