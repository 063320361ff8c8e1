"""LOAD_CONTEXT's facts for had() and in_journey(): read from the log and the journey_instances
projection, only what the journey asks, within the window, before `as_of`, never the trigger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities
from gridjourney.dsl.functions import history_key
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.contracts import HistoryQuery, LoadContextInput
from tests.activities.conftest import add_customer

AS_OF = datetime(2026, 11, 30, 12, tzinfo=UTC)
TRIGGER_ID = str(uuid.uuid4())


def event(event_type: str, days_ago: float, payload: dict[str, Any], event_id: str | None = None) -> NewEvent:
    return NewEvent(
        event_id=uuid.UUID(event_id) if event_id else uuid.uuid4(),
        type=event_type,
        customer_id="c1",
        occurred_at=AS_OF - timedelta(days=days_ago),
        source="test",
        payload=payload,
    )


def sent(journey_id: str, days_ago: float) -> NewEvent:
    key = f"{journey_id}:{days_ago}"
    return event(
        "message.sent", days_ago, {"idempotency_key": key, "journey_id": journey_id, "channel": "sms"}
    )


def entered(journey_id: str) -> NewEvent:
    payload = {
        "journey_id": journey_id,
        "version": 1,
        "instance_id": f"journey:{journey_id}:c1",
        "holdout": False,
    }
    return event("journey.entered", 1, payload)


async def test_had_facts_are_the_newest_matching_event_in_the_window(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    await add_customer(engine, "c1", time_zone="UTC")
    await EventStore(engine).append(
        [
            event("bill.issued", 50, {"amount": 250.0}),
            event("bill.issued", 20, {"amount": 90.0}),
            event("bill.issued", 2, {"amount": 400.0}, event_id=TRIGGER_ID),  # the trigger: never counts
            event("bill.issued", -1, {"amount": 500.0}),  # after as_of: not yet
            sent("high_bill_alert", 30),
            sent("high_bill_alert", 500),  # beyond the longest window
            sent("onboarding", 3),
            entered("onboarding"),
        ]
    )
    await ProjectionRunner(engine).catch_up()
    queries = [
        HistoryQuery(event_type="bill.issued", within=timedelta(days=60), where="event.amount > 100"),
        HistoryQuery(event_type="bill.issued", within=timedelta(days=60), where=None),
        HistoryQuery(event_type="bill.issued", within=timedelta(days=60), where="event.nothing > 1"),
        HistoryQuery(
            event_type="message.sent",
            within=timedelta(days=400),
            where="event.journey_id == 'high_bill_alert'",
        ),
        HistoryQuery(event_type="meter.anomaly_detected", within=timedelta(days=60), where=None),
    ]
    request = LoadContextInput(
        customer_id="c1",
        history=queries,
        journeys=["onboarding", "rate_coach"],
        as_of=AS_OF,
        exclude_event_id=TRIGGER_ID,
    )
    context = await activities.load_context(request)
    assert context.last_seen == {
        history_key("bill.issued", "event.amount > 100"): AS_OF - timedelta(days=50),
        history_key("bill.issued", None): AS_OF - timedelta(days=20),
        history_key("message.sent", "event.journey_id == 'high_bill_alert'"): AS_OF - timedelta(days=30),
    }
    assert context.in_journeys == ["onboarding"]
    # the policy's zone for a customer whose zone is the UTC default (policy/quiet_hours.py zone_for)
    facts = context.facts(AS_OF)
    assert facts.zone == "America/Chicago"
    assert facts.had("bill.issued", "60d", "event.amount > 100") is True
    assert facts.had("bill.issued", "49d", "event.amount > 100") is False


async def test_a_journey_without_history_functions_reads_none(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    await add_customer(engine, "c1")
    context = await activities.load_context(LoadContextInput(customer_id="c1"))
    assert (context.last_seen, context.in_journeys) == (None, None)
