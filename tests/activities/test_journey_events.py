from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError

from gridjourney.activities import JourneyActivities
from gridjourney.events.store import EventStore
from gridjourney.privacy.erasure import erase_customer
from gridjourney.workflows.contracts import (
    LoadContextInput,
    RecordJourneyEventInput,
    RecordJourneyEventsInput,
    UpdateCustomerInput,
)


def entered(event_id: uuid.UUID, **payload_changes: object) -> RecordJourneyEventInput:
    payload = {
        "journey_id": "onboarding",
        "version": 1,
        "instance_id": "journey:onboarding:c1:once",
        "holdout": False,
    }
    return RecordJourneyEventInput(
        event_id=str(event_id),
        type="journey.entered",
        customer_id="c1",
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        payload=payload | payload_changes,
    )


async def test_recording_twice_appends_once(engine: AsyncEngine, activities: JourneyActivities) -> None:
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, "journey:onboarding:c1:once#1")
    await activities.record_journey_event(entered(event_id))
    await activities.record_journey_event(entered(event_id))
    store = EventStore(engine)
    [event] = await store.read_customer("c1")
    assert (event.event_id, event.type, event.source) == (event_id, "journey.entered", "gridjourney.journey")
    assert event.payload["instance_id"] == "journey:onboarding:c1:once"


async def test_a_payload_the_schema_refuses_fails_without_retry(activities: JourneyActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await activities.record_journey_event(entered(uuid.uuid4(), version="one"))
    assert raised.value.non_retryable
    assert "version" in str(raised.value)


async def test_update_customer_appends_customer_updated_once(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    update = UpdateCustomerInput(
        event_id=str(uuid.uuid4()),
        customer_id="c1",
        attribute="onboarded",
        value=True,
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    await activities.update_customer(update)
    await activities.update_customer(update)
    [event] = await EventStore(engine).read_customer("c1")
    assert event.type == "customer.updated"
    assert event.payload["attributes"] == {"onboarded": True}


async def test_recording_for_an_erased_customer_fails_without_retry(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    store = EventStore(engine)
    await activities.record_journey_event(entered(uuid.uuid4()))
    assert await erase_customer(engine, store, "c1") is not None

    with pytest.raises(ApplicationError) as raised:
        await activities.record_journey_event(entered(uuid.uuid4()))

    # Retrying could never succeed: the journey must fail, not retry without end.
    assert raised.value.non_retryable
    assert raised.value.type == "CustomerErased"


async def test_events_a_step_carries_are_appended_before_its_work_and_once_when_it_is_retried(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    first, second = (uuid.uuid5(uuid.NAMESPACE_URL, f"journey:onboarding:c1:once#{n}") for n in (1, 2))
    exited = entered(second)
    exited.type, exited.payload = "journey.exited", {**exited.payload, "reason": "completed"}
    del exited.payload["holdout"]
    carried = [entered(first), exited]
    update = UpdateCustomerInput(
        event_id=str(uuid.uuid4()),
        customer_id="c1",
        attribute="onboarded",
        value=True,
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        journey_events=carried,
    )
    await activities.update_customer(update)
    await activities.update_customer(update)  # a retried attempt
    await activities.record_journey_events(RecordJourneyEventsInput(events=carried))  # and again at the end
    events = await EventStore(engine).read_customer("c1")
    assert [(event.event_id, event.type) for event in events] == [
        (first, "journey.entered"),
        (second, "journey.exited"),
        (uuid.UUID(update.event_id), "customer.updated"),
    ]


async def test_the_last_update_appends_the_end_after_its_own_event_and_once(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    first, second = (uuid.uuid5(uuid.NAMESPACE_URL, f"journey:onboarding:c1:once#{n}") for n in (1, 2))
    exited = entered(second)
    exited.type, exited.payload = "journey.exited", {**exited.payload, "reason": "completed"}
    del exited.payload["holdout"]
    update = UpdateCustomerInput(
        event_id=str(uuid.uuid4()),
        customer_id="c1",
        attribute="onboarded",
        value=True,
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        journey_events=[entered(first)],
        recorded_after=[exited],
    )
    await activities.update_customer(update)
    await activities.update_customer(update)  # a retried attempt
    events = await EventStore(engine).read_customer("c1")
    assert [(event.event_id, event.type) for event in events] == [
        (first, "journey.entered"),
        (uuid.UUID(update.event_id), "customer.updated"),
        (second, "journey.exited"),
    ]


async def test_a_carried_event_the_schema_refuses_fails_the_step_without_retry(
    activities: JourneyActivities,
) -> None:
    request = LoadContextInput(customer_id="c1", journey_events=[entered(uuid.uuid4(), version="one")])
    with pytest.raises(ApplicationError) as raised:
        await activities.load_context(request)
    assert raised.value.non_retryable
    assert "version" in str(raised.value)
