"""engine_event (events/models.py): the engine's own events, built without the door's envelope
validation, are the events that validation builds, and a customer id that is not one is still refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from gridjourney.activities.send_events import deferred_event, outcome_event
from gridjourney.events.models import NewEvent, engine_event
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

REQUEST = SendMessageInput(
    idempotency_key="cohort:dr_event:EV-1:notice:1:C-1",
    customer_id="C-1",
    journey_id="dr_event",
    journey_version=1,
    instance_id="cohort:dr_event:EV-1",
    step_id="notice",
    channels=["email"],
    template="dr_day_ahead",
    purpose="informational",
)


def fields(event: NewEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in NewEvent.model_fields}


@pytest.mark.parametrize(
    "event",
    [
        outcome_event(
            REQUEST, SendOutcome(status="sent", channel="email", provider_message_id="X1"), locale="en"
        ),
        outcome_event(REQUEST, SendOutcome(status="suppressed", reason="email: no_consent")),
        outcome_event(
            REQUEST,
            SendOutcome(status="failed", channel="sms", reason="provider_refused: 21610"),
            error_code="21610",
        ),
        deferred_event(REQUEST, datetime(2026, 12, 1, 16, tzinfo=UTC), "America/Chicago", "quiet_hours"),
    ],
)
def test_an_engine_event_is_the_validated_event(event: NewEvent) -> None:
    validated = NewEvent.model_validate(event.model_dump())
    assert fields(event) == fields(validated)
    assert event.model_dump(mode="json") == validated.model_dump(mode="json")


def build(event_type: str = "message.sent", customer_id: str | None = "C-1") -> NewEvent:
    return engine_event(
        event_id=uuid.uuid4(),
        event_type=event_type,
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="gridjourney.send",
        payload={"idempotency_key": "k"},
    )


@pytest.mark.parametrize("customer_id", ["", "C 1", "-C1", "C\x001", "C" * 101])
def test_a_customer_id_outside_its_pattern_is_refused(customer_id: str) -> None:
    with pytest.raises(ValueError, match="does not match"):
        build(customer_id=customer_id)


def test_a_customer_event_without_its_customer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"required for suppression\.added"):
        build("suppression.added", None)
    assert build("message.sent", None).customer_id is None
