"""Erasing a customer without rewriting the log (crypto-shredding).

In one transaction: `customer.erased` is appended (while the customer's key still exists), the data
key is destroyed, and the personal data held outside the log is removed: the customers projection's
profile fields and free-form attributes (integrators put addresses and birth dates there), their
meter reads (a year of a household's consumption), their DR figures (kWh over each event window:
dr/queries.py delete_customer_performance says why they are deleted, not kept under a token), the
dev outbox's copies of the messages sent to them (recipient, subject, body) and the failure reasons
of their messages (a provider's error can quote the number). Their workflow histories in Temporal
are deleted after it (workflow_erasure.py): the transaction records that part pending, until done
(temporal_erasures.py). The log's copies of their attributes are not sealed and
stay: keep personal data out of them. Their sealed event fields read null from then on, and the
store refuses new events about them (CustomerErased).

Their suppressions (a STOP, a hard bounce) outlive them: before the key is destroyed, each active one
is appended again for the reserved customer `ANYONE` with the address as a keyed hash
(privacy/address_hash.py), so the number or email stays refused to whoever holds it next.

Two exceptions to "without rewriting the log", for provider words that can quote the number or the
address and were written unsealed: journey.step_completed events written before 2026-11-30 kept a
failed send's whole reason in their outcome, which erasure cuts to its code
(`failed:invalid_recipient`), as the journey records them now; message.bounced and message.dropped
events written before 2026-12-01 kept SendGrid's reason in the clear (it is sealed since), which
erasure sets to null, as it reads once sealed and erased. Nothing else of the log changes. The store
refuses any later append about an erased customer, so the rewritten events' fingerprints are never
compared again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, bindparam, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import customer_keys, customers, events, messages, outbox_messages, send_ledger
from gridjourney.dr.queries import delete_customer_performance
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.store import delete_customer_reads
from gridjourney.privacy import customer_keys as keys
from gridjourney.privacy import queries
from gridjourney.privacy.address_hash import ANYONE
from gridjourney.privacy.temporal_erasures import FIRST_DELAY
from gridjourney.projections.messages import PROVIDER_REASONS
from gridjourney.projections.suppressions import kept_for_anyone

ERASED_EVENT_NAMESPACE = uuid.UUID("5b0c3f9e-8a51-4e0b-9d47-1c2f6a7e0d13")
ERASED_TEXT = "[erased]"
SOURCE = "gridjourney"


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    erased_at: datetime
    already: bool  # erased by an earlier request: nothing was done this time


async def _known(conn: AsyncConnection, customer_id: str) -> bool:
    """Anything recorded about the customer: events, a projection row or a key."""
    query = select(
        or_(
            exists().where(events.c.customer_id == customer_id),
            exists().where(customers.c.customer_id == customer_id),
            exists().where(customer_keys.c.customer_id == customer_id),
        )
    )
    return bool((await conn.execute(query)).scalar_one())


async def _suppressions_kept(
    conn: AsyncConnection, store: EventStore, customer_id: str, now: datetime
) -> list[NewEvent]:
    """The customer's active suppressions, from their log (the projection may lag), as events that
    keep them for anyone by the address's hash."""
    query = (
        select(events)
        .where(
            events.c.customer_id == customer_id,
            events.c.type.in_(("suppression.added", "suppression.removed")),
        )
        .order_by(events.c.position)
    )
    active: dict[tuple[Channel, str], str] = {}
    for event in await store.opened(conn, list(await conn.execute(query))):
        held = (event.payload["channel"], event.payload["address"])
        if event.type == "suppression.added":
            active[held] = event.payload["reason"]
        else:
            active.pop(held, None)
    return [
        kept_for_anyone(customer_id, channel, address, reason, now)
        for (channel, address), reason in active.items()
    ]


async def _remove_personal_data(conn: AsyncConnection, customer_id: str, erased_at: datetime) -> None:
    await conn.execute(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .values(name=None, phone=None, email=None, attributes={}, erased_at=erased_at)
    )
    await delete_customer_reads(conn, customer_id)
    await delete_customer_performance(conn, customer_id)
    their_sends = select(send_ledger.c.idempotency_key).where(send_ledger.c.customer_id == customer_id)
    their_messages = select(messages.c.idempotency_key).where(messages.c.customer_id == customer_id)
    await conn.execute(
        update(outbox_messages)
        .where(
            or_(
                outbox_messages.c.idempotency_key.in_(their_sends),
                outbox_messages.c.idempotency_key.in_(their_messages),
            )
        )
        .values(recipient=ERASED_TEXT, subject=None, body=ERASED_TEXT)
    )
    await conn.execute(
        update(messages)
        .where(messages.c.customer_id == customer_id, messages.c.status.in_(PROVIDER_REASONS))
        .values(reason=None)
    )
    await conn.execute(_OLD_FAILED_OUTCOMES_TO_CODES, {"erased_customer": customer_id})
    await conn.execute(_OLD_PROVIDER_REASONS_TO_NULL, {"erased_customer": customer_id})


# `failed:<code>: <provider's words>` -> `failed:<code>` (SendOutcome.step_outcome's form).
_OLD_FAILED_OUTCOMES_TO_CODES = (
    update(events)
    .where(
        events.c.customer_id == bindparam("erased_customer"),
        events.c.type == "journey.step_completed",
        events.c.payload["outcome"].astext.like("failed:%:%"),
    )
    .values(
        payload=func.jsonb_set(
            events.c.payload,
            literal(["outcome"], ARRAY(String)),
            func.to_jsonb(literal("failed:") + func.split_part(events.c.payload["outcome"].astext, ":", 2)),
        )
    )
)


# A reason written before these types were sealed (a JSON string; sealed, it is an object) -> null.
_OLD_PROVIDER_REASONS_TO_NULL = (
    update(events)
    .where(
        events.c.customer_id == bindparam("erased_customer"),
        events.c.type.in_(("message.bounced", "message.dropped")),
        func.jsonb_typeof(events.c.payload["reason"]) == "string",
    )
    .values(
        payload=func.jsonb_set(
            events.c.payload, literal(["reason"], ARRAY(String)), literal("null").cast(JSONB)
        )
    )
)


async def erase_customer(engine: AsyncEngine, store: EventStore, customer_id: str) -> Erasure | None:
    """Erase the customer (idempotent). None when nothing was ever recorded about them (or the id is
    the reserved holder of address-wide suppressions, which is no customer)."""
    if customer_id == ANYONE:
        return None
    try:
        return await _erase(engine, store, customer_id)
    except keys.CustomerErased as concurrent:  # another request erased them first
        return Erasure(customer_id, concurrent.erased_at, already=True)


async def _erase(engine: AsyncEngine, store: EventStore, customer_id: str) -> Erasure | None:
    async with engine.begin() as conn:
        already = await keys.erased_at(conn, customer_id)
        if already is not None:
            return Erasure(customer_id, already, already=True)
        if not await _known(conn, customer_id):
            return None
        now = datetime.now(UTC)
        erased = NewEvent(
            event_id=uuid.uuid5(ERASED_EVENT_NAMESPACE, customer_id),
            type="customer.erased",
            customer_id=customer_id,
            occurred_at=now,
            source=SOURCE,
        )
        kept = await _suppressions_kept(conn, store, customer_id, now)
        await store.append_in(conn, [*kept, erased])
        erased_at = await keys.destroy_key(conn, customer_id)
        await _remove_personal_data(conn, customer_id, erased_at)
        # pending until their workflow executions are deleted in Temporal (temporal_erasures.py): the
        # request tries at once; the retrier, if it is still pending after the first delay
        await queries.record_pending(conn, customer_id, erased_at, erased_at + FIRST_DELAY)
    return Erasure(customer_id, erased_at, already=False)


async def erased_at(engine: AsyncEngine, customer_id: str) -> datetime | None:
    async with engine.connect() as conn:
        return await keys.erased_at(conn, customer_id)
