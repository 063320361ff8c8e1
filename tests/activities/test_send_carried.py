"""SEND_MESSAGE's carried work, against real Postgres and the Twilio stand-in: the run's entry context
(`with_context`) loaded before the send, and the last step's completion and exit (`recorded_after`)
appended after it, each once however often the activity runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.channels.base import Sender, TransientSendError
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.workflows.contracts import (
    LoadContextInput,
    RecordJourneyEventInput,
    RecordJourneyEventsInput,
)
from tests.activities.conftest import add_customer, message_events
from tests.activities.test_send import ALL_PURPOSES, open_policy, request

INSTANCE = "journey:high_bill:c1:2026-11"


@pytest.fixture
def activities(
    engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender], policy: Policy
) -> JourneyActivities:
    return JourneyActivities(engine, settings, senders, policy=open_policy(policy))


def journey_event(
    sequence: int, event_type: Any, customer_id: str = "c1", **fields: Any
) -> RecordJourneyEventInput:
    return RecordJourneyEventInput(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{INSTANCE}#{sequence}")),
        type=event_type,
        customer_id=customer_id,
        occurred_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        payload={"journey_id": "high_bill", "version": 3, "instance_id": INSTANCE, **fields},
    )


def the_end(customer_id: str = "c1") -> list[RecordJourneyEventInput]:
    completed = dict(step_id="alert", kind="send", outcome=None, next_step=None)
    return [
        journey_event(2, "journey.step_completed", customer_id, **completed),
        journey_event(3, "journey.exited", customer_id, reason="completed"),
    ]


async def journey_records(engine: AsyncEngine, customer_id: str) -> list[tuple[str, dict[str, Any]]]:
    stored = await EventStore(engine).read_customer(customer_id)
    return [(e.type, e.payload) for e in stored if e.type.startswith("journey.")]


async def test_the_entry_context_comes_back_with_the_outcome(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES, attributes={"rate_plan": "tou"})
    entered = journey_event(1, "journey.entered", holdout=False)
    carried = request().model_copy(
        update={"with_context": LoadContextInput(customer_id="c1"), "journey_events": [entered]}
    )
    outcome = await activities.send_message(carried)

    assert (outcome.status, outcome.channel) == ("sent", "sms")
    assert outcome.context is not None and outcome.context.exists
    assert outcome.context.attributes["rate_plan"] == "tou"
    assert outcome.context.time_zone == "America/Los_Angeles"
    assert [t for t, _ in await journey_records(engine, "c1")] == ["journey.entered"]
    assert len(standin.received) == 1


async def test_an_unknown_customer_is_neither_claimed_nor_recorded(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    carried = request("nobody").model_copy(
        update={"with_context": LoadContextInput(customer_id="nobody"), "recorded_after": the_end("nobody")}
    )
    outcome = await activities.send_message(carried)

    assert (outcome.status, outcome.reason, outcome.recorded_after) == (
        "suppressed",
        "unknown_customer",
        False,
    )
    assert outcome.context is not None and not outcome.context.exists
    # what the run's entry load found before: no message event, no ledger row, no end recorded
    assert await message_events(engine, "nobody") == []
    assert await ledger.get(engine, carried.idempotency_key) is None
    assert await journey_records(engine, "nobody") == []
    assert standin.received == []


async def test_the_end_is_recorded_after_the_send_once_with_its_outcome(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    carried = request().model_copy(update={"recorded_after": the_end()})
    first = await activities.send_message(carried)
    again = await activities.send_message(carried)  # a retried attempt: nothing twice

    assert first.recorded_after and again.recorded_after and again.duplicate
    assert len(standin.received) == 1
    records = await journey_records(engine, "c1")
    assert [(t, p.get("outcome"), p.get("reason")) for t, p in records] == [
        ("journey.step_completed", "sent:sms", None),
        ("journey.exited", None, "completed"),
    ]
    # after the message's own event in the log
    stored = await EventStore(engine).read_customer("c1")
    types = [e.type for e in stored if e.type.startswith(("message.", "journey."))]
    assert types == ["message.sent", "journey.step_completed", "journey.exited"]


async def test_a_suppressed_last_send_records_its_reason_as_the_outcome(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", False)])
    outcome = await activities.send_message(
        request(channels=["sms"]).model_copy(update={"recorded_after": the_end()})
    )

    assert (outcome.status, outcome.recorded_after) == ("suppressed", True)
    [(_, completed), (_, exited)] = await journey_records(engine, "c1")
    assert completed["outcome"] == f"suppressed:{outcome.reason}"
    assert exited["reason"] == "completed"


async def test_the_entry_the_message_and_the_end_are_one_append(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    """One transaction (one `recorded_at`), in the run's order: a single wake-up of every subscription."""
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    entered = journey_event(1, "journey.entered", holdout=False)
    carried = request().model_copy(
        update={
            "with_context": LoadContextInput(customer_id="c1"),
            "journey_events": [entered],
            "recorded_after": the_end(),
        }
    )
    outcome = await activities.send_message(carried)

    assert (outcome.status, outcome.recorded_after) == ("sent", True)
    stored = [e for e in await EventStore(engine).read_customer("c1") if e.source != "test"]
    assert [e.type for e in stored] == [
        "journey.entered",
        "message.sent",
        "journey.step_completed",
        "journey.exited",
    ]
    assert len({e.recorded_at for e in stored}) == 1
    assert [e.position for e in stored] == list(range(stored[0].position, stored[0].position + 4))
    assert len(standin.received) == 1


async def test_a_first_send_that_fails_still_records_the_entry_first(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    entered = journey_event(1, "journey.entered", holdout=False)
    carried = request().model_copy(update={"journey_events": [entered], "recorded_after": the_end()})
    standin.fail_next(503, 20503, "Service Unavailable")
    with pytest.raises(TransientSendError):
        await activities.send_message(carried)
    assert [t for t, _ in await journey_records(engine, "c1")] == ["journey.entered"]

    outcome = await activities.send_message(carried)  # the retry: the entry is not appended twice
    assert outcome.status == "sent"
    stored = await EventStore(engine).read_customer("c1")
    types = [e.type for e in stored if e.type.startswith(("message.", "journey."))]
    assert types == ["journey.entered", "message.sent", "journey.step_completed", "journey.exited"]


async def test_an_end_recorded_otherwise_before_leaves_the_message_recorded(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    """The end's ids taken by an earlier record with another outcome text: the message's own record
    goes through without them, and the earlier end stands."""
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    earlier = the_end()
    earlier[0] = earlier[0].model_copy(update={"payload": {**earlier[0].payload, "outcome": "failed:x"}})
    await activities.record_journey_events(RecordJourneyEventsInput(events=earlier))

    outcome = await activities.send_message(request().model_copy(update={"recorded_after": the_end()}))

    assert (outcome.status, outcome.recorded_after) == ("sent", True)
    assert len(standin.received) == 1
    assert [e.type for e in await EventStore(engine).read_customer("c1") if e.type == "message.sent"] == [
        "message.sent"
    ]
    [(_, completed), _] = await journey_records(engine, "c1")
    assert completed["outcome"] == "failed:x"
