"""UPDATE_CUSTOMER: a journey's `update` step, as a customer.updated event (projections apply it)."""

from __future__ import annotations

import uuid

from gridjourney.events.models import AppendResult, NewEvent
from gridjourney.events.store import EventStore
from gridjourney.workflows.contracts import UpdateCustomerInput

SOURCE = "gridjourney.journey"


async def update_customer(store: EventStore, request: UpdateCustomerInput) -> AppendResult:
    """Sets one attribute (merged into the customer's attributes); idempotent on the event id."""
    [result] = await store.append(
        [
            NewEvent(
                event_id=uuid.UUID(request.event_id),
                type="customer.updated",
                customer_id=request.customer_id,
                occurred_at=request.occurred_at,
                source=SOURCE,
                payload={"attributes": {request.attribute: request.value}},
            )
        ]
    )
    return result
