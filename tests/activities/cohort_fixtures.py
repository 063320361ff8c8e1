"""Cohort batches for the send tests: many customers appended and projected at once, their member rows
(written as the audience activity writes them), the batch's input, an earlier attempt that died
calling the provider, and a sender whose look-up a test replaces."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.activities.send import MessageSending
from gridjourney.activities.send_batch import CohortSending
from gridjourney.channels.base import OutgoingMessage, ProviderReceipt, Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.db.tables import cohort_members
from gridjourney.demo.utility import zone_at_local_hour
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.cohort_contracts import CohortSendInput, MemberBatch

RUN_ID = "cohort:dr_event:EV-1"
SMS_OK = [("sms", "informational", True)]
LEASE = timedelta(seconds=60)
_numbers = itertools.count(5_550_000)


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


def person(prefix: str, kind: str, i: int, now: datetime) -> Person:
    """One member of the kind; `prefix` keeps the batch's population apart from the per-customer one."""
    phone = f"+1503{next(_numbers):07d}"  # distinct: look-ups find a message by its number
    p = Person(f"{prefix}-{kind}-{i}", phone=phone, time_zone=zone_at_local_hour(12, now), consent=SMS_OK)
    if kind == "revoked":
        p.consent = [("sms", "informational", False)]
    elif kind == "suppressed":
        p.suppressed_phone = True
    elif kind == "no_phone":
        p.phone = None
    elif kind == "night":
        p.time_zone = zone_at_local_hour(3, now)
    elif kind in ("outage", "safety_outage"):
        p.premise_id = f"P-{prefix}-{i}"
    return p


async def sendable_members(engine: AsyncEngine, prefix: str, count: int, now: datetime) -> list[Person]:
    """`count` people whom SMS may reach ("ok"), added and made members of the batch."""
    people = [person(prefix, "ok", i, now) for i in range(count)]
    await add_people(engine, people)
    await add_members(engine, people)
    return people


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


async def died_calling(
    engine: AsyncEngine, key: str, customer_id: str, *, lease: timedelta = LEASE, ambiguous: bool = True
) -> None:
    """An earlier attempt's row for `key`: its worker died calling the provider (`calling` under a lease
    that may outlive it, or, once the lease was found expired, `ambiguous`)."""
    async with engine.begin() as conn:
        await ledger.acquire(conn, key, "dead-worker", lease, customer_id=customer_id)
        await ledger.reserve(conn, key, "dead-worker", "sms", "informational", lease)
        await ledger.start_call(conn, key, "dead-worker", lease)
        if ambiguous:
            await ledger.mark_ambiguous(conn, key, "dead-worker", "killed mid-call", timedelta(0))


class PassingThrough:
    """The real sender, passed through: a test's subclass replaces its look-up (no stand-in option
    makes a look-up lag or fail)."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        return await self.inner.send(message)

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        return await self.inner.lookup(message, since)

    async def close(self) -> None:
        return None


def cohort_over(activities: JourneyActivities, senders: dict[Channel, Sender]) -> CohortSending:
    """The batch sending of `activities`, through `senders` instead of theirs."""
    base = activities.sending
    sending = MessageSending(
        base.store, base.templates_dir, senders, base.policy, look_up_after=base.look_up_after
    )
    return CohortSending(sending, ProviderCalls(senders), chunk_size=60)
