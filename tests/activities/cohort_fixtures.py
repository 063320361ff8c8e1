"""Cohort batches for the send tests: many customers appended and projected at once, their member rows
(written as the audience activity writes them), and the batch's input."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import cohort_members
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.cohort_contracts import CohortSendInput, MemberBatch

RUN_ID = "cohort:dr_event:EV-1"
SMS_OK = [("sms", "informational", True)]


@dataclass
class Person:
    customer_id: str
    phone: str | None = None
    email: str | None = None
    time_zone: str = "UTC"
    premise_id: str | None = None
    consent: Sequence[tuple[str, str, bool]] = ()
    suppressed_phone: bool = False
    holdout: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


def _event(event_type: str, customer_id: str | None, payload: dict[str, Any]) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="test",
        payload=payload,
    )


async def add_people(engine: AsyncEngine, people: Sequence[Person]) -> None:
    """customer.created, consent.changed and suppression.added for everyone, projected once."""
    new: list[NewEvent] = []
    for p in people:
        profile = {
            "name": "Ana",
            "phone": p.phone,
            "email": p.email,
            "locale": "en",
            "time_zone": p.time_zone,
            "attributes": p.attributes,
            "premise_id": p.premise_id,
        }
        new.append(_event("customer.created", p.customer_id, profile))
        for channel, purpose, granted in p.consent:
            payload = {"channel": channel, "purpose": purpose, "granted": granted, "method": "web"}
            new.append(_event("consent.changed", p.customer_id, payload))
        if p.suppressed_phone and p.phone:
            new.append(
                suppression_added(p.customer_id, "sms", p.phone, "invalid_recipient", "test", uuid.uuid4())
            )
    store = EventStore(engine)
    for start in range(0, len(new), 2000):  # a statement binds at most 65,535 parameters
        await store.append(new[start : start + 2000])
    await ProjectionRunner(engine).catch_up()


async def add_outage(engine: AsyncEngine, incident_id: str, premise_ids: list[str]) -> None:
    payload = {"incident_id": incident_id, "premise_ids": premise_ids}
    await EventStore(engine).append([_event("outage.detected", None, payload)])
    await ProjectionRunner(engine).catch_up()


async def add_members(engine: AsyncEngine, people: Sequence[Person], step_id: str = "notice") -> None:
    rows = [
        {
            "run_id": RUN_ID,
            "customer_id": p.customer_id,
            "member_no": number,
            "premise_id": p.premise_id,
            "holdout": p.holdout,
            "step_id": step_id,
            "track": "t0",
        }
        for number, p in enumerate(people)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(cohort_members), rows)


async def member_places(engine: AsyncEngine) -> dict[str, tuple[str | None, str | None, datetime | None]]:
    """customer id → (step, track, deferred_until)."""
    c = cohort_members.c
    async with engine.connect() as conn:
        rows = await conn.execute(select(c.customer_id, c.step_id, c.track, c.deferred_until))
        return {row.customer_id: (row.step_id, row.track, row.deferred_until) for row in rows}


def batch_input(
    size: int,
    *,
    channels: list[Channel] | None = None,
    template: str = "high_bill",
    purpose: Purpose = "informational",
    sending_hours: list[str] | None = None,
) -> CohortSendInput:
    return CohortSendInput(
        batch=MemberBatch(run_id=RUN_ID, step_id="notice", track="t0", lo=0, hi=size),
        journey_id="dr_event",
        version=1,
        purpose=purpose,
        channels=channels or ["sms"],
        template=template,
        sending_hours=sending_hours,
        subject={"projected_amount": 182, "type": "dr.event_scheduled", "id": "EV-1"},
        next_step="wait",
        next_track="t1",
    )
