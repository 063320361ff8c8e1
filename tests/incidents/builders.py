"""Building outage events and the customers they reach, for tests."""

from __future__ import annotations

from typing import Any

from gridjourney.events.models import NewEvent
from tests.events.builders import new_event


def outage(event_type: str, incident_id: str, minute: int, **payload: Any) -> NewEvent:
    """An outage.* event about `incident_id`, `minute` minutes after BASE_TIME."""
    return new_event(event_type, None, {"incident_id": incident_id, **payload}, minute=minute)


def customer(customer_id: str, premise: str, transformer: str, feeder: str) -> NewEvent:
    """customer.created of a customer supplied at `premise` through `transformer` and `feeder`."""
    grid = {"premise_id": premise, "transformer_id": transformer, "feeder_id": feeder}
    return new_event("customer.created", customer_id, {"name": customer_id, **grid})
