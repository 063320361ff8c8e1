"""The router's trigger conditions with the date and history functions: `now()` is the event's time,
had() reads the customer's history as of the event (never the event itself), in_journey() the
journey_instances projection; nothing is loaded for journeys whose conditions do not ask."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.facts import trigger_facts
from gridjourney.router.matching import trigger_wants, triggered_journeys
from gridjourney.router.queries import customer_namespace
from gridjourney.workflows.contracts import EventRef
from tests.activities.conftest import add_customer
from tests.workflows.standins import compiled

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
FIRST_ALERT = """
id: first_high_bill
purpose: informational
trigger:
  event: bill.issued
  when: 'event.amount > 150 and not had("bill.issued", within=60d, where=event.amount > 150)'
steps:
  - {id: alert, send: {channels: [sms], template: high_bill_alert}}
"""
OVERDUE = """
id: overdue
purpose: informational
trigger:
  event: bill.issued
  when: 'days_since(event.due_date) > 3 and not in_journey("first_high_bill")'
steps:
  - {id: alert, send: {channels: [sms], template: high_bill_alert}}
"""
PLAIN = """
id: plain
purpose: informational
trigger: {event: bill.issued, when: "event.amount > 0"}
steps:
  - {id: alert, send: {channels: [sms], template: high_bill_alert}}
"""


def issued(customer_id: str, days_ago: float, amount: float, due_days_ago: float = 0) -> NewEvent:
    occurred = NOW - timedelta(days=days_ago)
    return NewEvent(
        event_id=uuid.uuid4(),
        type="bill.issued",
        customer_id=customer_id,
        occurred_at=occurred,
        source="test",
        payload={"amount": amount, "due_date": (NOW - timedelta(days=due_days_ago)).isoformat()},
    )


def as_ref(new: NewEvent) -> EventRef:
    return EventRef(
        event_id=str(new.event_id),
        type=new.type,
        customer_id=new.customer_id,
        occurred_at=new.occurred_at,
        payload=dict(new.payload),
        position=0,
    )


async def matched(engine: AsyncEngine, event: NewEvent, journeys: list[CompiledJourney]) -> list[str]:
    ref = as_ref(event)
    assert ref.customer_id is not None
    customer: dict[str, Any] | None = await customer_namespace(engine, ref.customer_id)
    facts = await trigger_facts(engine, ref, customer, journeys)
    return [journey.journey_id for journey in triggered_journeys(ref, journeys, customer, facts)]


async def test_trigger_conditions_read_the_history_as_of_the_event(engine: AsyncEngine) -> None:
    journeys = [compiled(FIRST_ALERT), compiled(OVERDUE)]
    for customer_id in ("seen", "new"):
        await add_customer(engine, customer_id)
    now_high = issued("seen", 0, 200.0)
    await EventStore(engine).append(
        [
            issued("seen", 30, 180.0),  # a high bill a month ago
            now_high,
            issued("seen", -5, 300.0),  # later than the routed event: not yet, as of it
            issued("new", 90, 180.0),  # beyond the window
        ]
    )
    await ProjectionRunner(engine).catch_up()
    assert await matched(engine, now_high, journeys) == []
    # the event itself is in the log already: it never counts
    assert await matched(engine, issued("new", 0, 200.0), journeys) == ["first_high_bill"]
    # days_since() counts from the event's time, not the clock's: due 5 days before it
    assert await matched(engine, issued("new", 0, 100.0, due_days_ago=5), journeys) == ["overdue"]
    assert await matched(engine, issued("new", 0, 100.0, due_days_ago=1), journeys) == []


def test_nothing_is_loaded_for_conditions_without_the_functions() -> None:
    journeys = [compiled(PLAIN), compiled(FIRST_ALERT)]
    assert trigger_wants("bill.issued", journeys[:1]) is None
    assert trigger_wants("bill.projection_updated", journeys) is None
    wanted = trigger_wants("bill.issued", journeys)
    assert wanted is not None and [use.event_type for use in wanted[0]] == ["bill.issued"]
