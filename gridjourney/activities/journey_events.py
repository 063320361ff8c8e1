"""Journey progress appended to the event log under the workflow's own ids: RECORD_JOURNEY_EVENT (one,
as runs started before patch `journey-events-in-step-1` record it), RECORD_JOURNEY_EVENTS (several),
and the events an activity input carries (`journey_events`), appended before the activity's work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from gridjourney.events.models import AppendResult, NewEvent
from gridjourney.events.store import EventStore
from gridjourney.workflows.contracts import RecordJourneyEventInput

SOURCE = "gridjourney.journey"


async def record_journey_events(
    store: EventStore, requests: Sequence[RecordJourneyEventInput]
) -> list[AppendResult]:
    """Idempotent: the event ids are deterministic in the workflow, so a retried activity (or a
    replayed workflow) appends nothing new and gets the first append's results."""
    return await store.append(journey_new_events(requests))


def journey_new_events(requests: Sequence[RecordJourneyEventInput]) -> list[NewEvent]:
    """The run's journey events as the log takes them."""
    return [
        NewEvent(
            event_id=uuid.UUID(request.event_id),
            type=request.type,
            customer_id=request.customer_id,
            occurred_at=request.occurred_at,
            source=SOURCE,
            payload=request.payload,
        )
        for request in requests
    ]


async def record_journey_event(store: EventStore, request: RecordJourneyEventInput) -> AppendResult:
    [result] = await record_journey_events(store, [request])
    return result
