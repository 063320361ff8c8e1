"""The per-member values a cohort chunk builds: the member's send input and the customer's record and
template namespace (activities/batch_decisions.py, activities/context.py), as the per-customer send's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from gridjourney.activities.batch_decisions import member_request
from gridjourney.activities.context import CustomerRecord, customer_record
from gridjourney.cohorts.queries import Member
from gridjourney.projections.queries import CustomerView
from gridjourney.workflows.cohort_contracts import CohortSendInput, MemberBatch
from gridjourney.workflows.contracts import SendMessageInput

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def cohort_input(**overrides: Any) -> CohortSendInput:
    fields: dict[str, Any] = {
        "batch": MemberBatch(run_id="cohort:dr_event:EV-1", step_id="notice", track="t0", lo=0, hi=10),
        "journey_id": "dr_event",
        "version": 3,
        "purpose": "informational",
        "channels": ["email", "sms"],
        "template": "dr_day_ahead",
        "sending_hours": ["09:00-18:00"],
        "subject": {"type": "dr.event_scheduled", "id": "EV-1", "start": "2026-12-01T18:00:00+00:00"},
        "next_step": "wait",
        "next_track": "t1",
    }
    return CohortSendInput.model_validate(fields | overrides)


def member(customer_id: str = "C-1") -> Member:
    return Member(customer_id, 7, None, None, None, None, False, None, None)


@pytest.mark.parametrize(
    ("overrides", "performance"),
    [
        ({}, None),
        ({"sending_hours": None, "can_defer": False}, {"known": True, "kwh_saved": 2.3, "credit": 1.15}),
    ],
)
def test_a_member_request_is_the_validated_one(
    overrides: dict[str, Any], performance: dict[str, Any] | None
) -> None:
    request = cohort_input(**overrides)
    built = member_request(request, member(), performance)
    validated = SendMessageInput.model_validate(built.model_dump())
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.idempotency_key == request.idempotency_key("C-1")
    assert built.variables == {"event": request.subject, "performance": performance or {"known": False}}


def test_member_requests_share_no_lists_with_the_batch_input() -> None:
    request = cohort_input()
    first, second = member_request(request, member("C-1"), None), member_request(request, member("C-2"), None)
    first.channels.append("push")
    assert first.sending_hours is not None
    first.sending_hours.clear()
    assert request.channels == ["email", "sms"] and second.channels == ["email", "sms"]
    assert request.sending_hours == ["09:00-18:00"] == second.sending_hours


def view(**overrides: Any) -> CustomerView:
    fields: dict[str, Any] = {
        "customer_id": "C-1",
        "name": "Ana",
        "phone": "+15035550142",
        "email": "ana@example.com",
        "locale": "es",
        "time_zone": "America/Chicago",
        "premise_id": "P-1",
        "transformer_id": "T-1",
        "feeder_id": None,
        # A clash with a profile field: the profile wins in the template's namespace.
        "attributes": {"plan": {"name": "TOU-D"}, "name": "not the name", "enrolled": True},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return CustomerView.model_validate(fields | overrides)


@pytest.mark.parametrize(
    "overrides", [{}, {"name": None, "email": None, "phone": None, "attributes": {}, "premise_id": None}]
)
def test_a_customer_record_is_the_validated_one(overrides: dict[str, Any]) -> None:
    row = view(**overrides)
    built = customer_record(row)
    validated = CustomerRecord.model_validate(row.model_dump())
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.namespace() == validated.context().namespace()
    assert built.attributes is not row.attributes  # the record's own, as from the dump


def test_a_customer_record_from_a_bad_row_is_refused() -> None:
    row = view().model_copy(update={"locale": None})
    with pytest.raises(ValidationError):
        customer_record(row)


def test_the_namespace_keeps_the_profile_over_a_clashing_attribute() -> None:
    namespace = customer_record(view()).namespace()
    assert namespace["name"] == "Ana"
    assert namespace["plan"] == {"name": "TOU-D"}
    assert namespace["locale"] == "es" and namespace["time_zone"] == "America/Chicago"
