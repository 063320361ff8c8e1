"""RECORD_JOURNEY_EVENT: journey progress appended to the event log under the workflow's own id."""

from __future__ import annotations

import uuid

from gridjourney.events.models import AppendResult, NewEvent
from gridjourney.events.store import EventStore
from gridjourney.workflows.contracts import RecordJourneyEventInput

SOURCE = "gridjourney.journey"


async def record_journey_event(store: EventStore, request: RecordJourneyEventInput) -> AppendResult:
    """Idempotent: the event id is deterministic in the workflow, so a retried activity (or a
    replayed workflow) appends nothing new and gets the first append's result."""
    [result] = await store.append(
        [
            NewEvent(
                event_id=uuid.UUID(request.event_id),
                type=request.type,
                customer_id=request.customer_id,
                occurred_at=request.occurred_at,
                source=SOURCE,
                payload=request.payload,
            )
        ]
    )
    return result
