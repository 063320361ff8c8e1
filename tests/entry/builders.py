"""A bill alert journey under a given entry rule, and its trigger."""

from __future__ import annotations

from datetime import UTC, datetime

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.workflows.contracts import EventRef
from tests.workflows.standins import compiled

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


def journey(entry: str) -> CompiledJourney:
    return compiled(
        f"""
id: bill_alert
purpose: informational
trigger: {{event: bill.projection_updated}}
entry: {entry}
steps:
  - id: alert
    send: {{channels: [sms], template: high_bill_alert}}
"""
    )


def trigger(
    event_id: str = "e-1", occurred_at: datetime = T0, position: int = 10, customer_id: str = "c-1"
) -> EventRef:
    return EventRef(
        event_id=event_id,
        type="bill.projection_updated",
        customer_id=customer_id,
        occurred_at=occurred_at,
        payload={"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 12},
        position=position,
    )
