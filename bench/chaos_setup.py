"""What the chaos benchmark sends: consented customers, one-step journeys, a policy without quiet
hours or caps (kills, not the clock, decide what happens), and a template giving every message its
own body (look-ups match bodies)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl.compiler import compile_journey
from gridjourney.dsl.loader import load_journey_text
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner

TEMPLATE = "Meter check {{ event.attributes.check }}: your reading is in. Reply STOP to opt out."

BENCH_POLICY = """\
version: 1
default_time_zone: America/Chicago
program: {name: Chaos Bench, contact: 1-800-555-0100, frequency: a few msgs/day}
senders:
  sms: {from_number: "+15005550006"}
  email: {from_address: bench@gridjourney.example, from_name: Bench}
  push: {vapid_subject: "mailto:bench@gridjourney.example"}
purposes:
  marketing: {consent: opt_in, exempt_from: [quiet_hours, frequency_caps]}
  informational: {consent: opt_in, exempt_from: [quiet_hours, frequency_caps]}
  safety: {consent: implied, exempt_from: [quiet_hours, frequency_caps]}
replies:
  help: {en: "{program}: help at {contact}. {frequency}. Reply STOP to cancel."}
  stop: {en: "{program}: unsubscribed."}
  start: {en: "{program}: subscribed again."}
"""


def chaos_journey(journey_id: str, purpose: str, templates_dir: Path) -> CompiledJourney:
    source = (
        f"id: {journey_id}\n"
        f"purpose: {purpose}\n"
        "trigger: {event: customer.updated}\n"
        "entry: {reentry: every_trigger}\n"
        "steps:\n"
        "  - id: notify\n"
        "    send: {channels: [sms], template: chaos}\n"
    )
    definition = load_journey_text(source, f"{journey_id}.yaml")
    return compile_journey(definition, version=1, content_hash=journey_id, templates_dir=templates_dir)


async def add_customers(engine: AsyncEngine, count: int) -> list[str]:
    """Customers with a phone number and SMS consent for informational and marketing messages."""
    now = datetime.now(UTC)
    ids = [f"chaos-{n:04d}" for n in range(count)]
    new: list[NewEvent] = []
    for n, customer_id in enumerate(ids):
        profile = {"name": f"Customer {n}", "phone": f"+1503555{n:04d}", "time_zone": "America/Chicago"}
        consents = [
            {"channel": "sms", "purpose": purpose, "granted": True, "method": "web"}
            for purpose in ("informational", "marketing")
        ]
        new += [
            NewEvent(
                event_id=uuid.uuid4(),
                type=kind,
                customer_id=customer_id,
                occurred_at=now,
                source="bench.chaos",
                payload=payload,
            )
            for kind, payload in [("customer.created", profile)] + [("consent.changed", c) for c in consents]
        ]
    await EventStore(engine).append(new)
    await ProjectionRunner(engine).catch_up()
    return ids
