"""Events for backtest tests: a few customers and their triggers, appended through the event store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl.compiler import compile_journey
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore

ZONE = "Europe/London"  # UTC+0 in winter: local hours read as UTC in these tests
JOURNEY = """
id: bill_nudge
purpose: informational
trigger: {event: bill.projection_updated, when: "event.projected_amount > 100"}
entry: {reentry: once_per_window, window: 30d}
exit_on: [bill.issued]
steps:
  - id: alert
    send: {channels: [sms, email], template: nudge}
  - id: pause
    wait: 2d
  - id: route
    branch:
      - when: "customer.heating == 'electric'"
        goto: tips
      - goto: end
  - id: tips
    send: {channels: [email], template: tips}
"""


def compiled(text: str = JOURNEY) -> CompiledJourney:
    definition = load_journey_with_positions(text, "bill_nudge.yaml").definition
    return compile_journey(definition, version=1, content_hash="test", templates_dir=None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def new(event_type: str, customer_id: str, when: datetime, **payload: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=when,
        source="test",
        payload=payload,
    )


def customer(
    customer_id: str,
    when: datetime,
    *,
    phone: str | None = None,
    email: str | None = None,
    heating: str = "electric",
    grants: tuple[str, ...] = ("sms", "email"),
    locale: str = "en",
) -> list[NewEvent]:
    profile = new(
        "customer.created",
        customer_id,
        when,
        name="Ana",
        phone=phone,
        email=email,
        locale=locale,
        time_zone=ZONE,
        attributes={"heating": heating},
    )
    consents = [
        new(
            "consent.changed",
            customer_id,
            when,
            channel=c,
            purpose="informational",
            granted=True,
            method="web",
        )
        for c in grants
    ]
    return [profile, *consents]


def projection(customer_id: str, when: datetime, amount: float = 180.0) -> NewEvent:
    return new(
        "bill.projection_updated",
        customer_id,
        when,
        projected_amount=amount,
        typical_amount=100.0,
        days_left=12,
    )


async def append(engine: AsyncEngine, events: list[NewEvent]) -> None:
    await EventStore(engine).append(events)


def write_templates(root: Path) -> Path:
    """The test journey's templates (English only)."""
    files = {
        "sms/en/nudge.j2": "Your bill is heading for ${{ event.projected_amount }}. Reply STOP to opt out.",
        "email/en/nudge.j2": "Subject: Your bill\n\nIt is heading for ${{ event.projected_amount }}.",
        "email/en/tips.j2": "Subject: Tips\n\nTurn the heating down a degree.",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root
