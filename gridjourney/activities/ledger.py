"""The send ledger: every SQL statement on `send_ledger`, in one place.

A row is claimed (INSERT ... ON CONFLICT DO NOTHING) before any provider call, so exactly one
attempt owns a key at a time. Statuses:

    claimed     an attempt owns the key and may be talking to the provider right now
    ambiguous   an attempt lost track of a provider call that may have gone through
    sent | suppressed | failed      the outcome is recorded (as an event first, then here)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import send_ledger

CLAIMED = "claimed"
AMBIGUOUS = "ambiguous"
COMPLETED = frozenset({"sent", "suppressed", "failed"})
# First key of the two-key advisory locks on customers (the second is hashtext(customer_id)).
CUSTOMER_LOCK_CLASS = 7301


@dataclass(frozen=True)
class LedgerRow:
    idempotency_key: str
    customer_id: str
    channel: str | None
    status: str
    provider_message_id: str | None
    claimed_at: datetime
    completed_at: datetime | None
    owner: str | None = None
    lease_expires_at: datetime | None = None
    purpose: str | None = None
    reserved_at: datetime | None = None
    journey_id: str | None = None
    step_id: str | None = None
    attempts: int = 1
    note: str | None = None

    @property
    def completed(self) -> bool:
        return self.status in COMPLETED


async def claim(engine: AsyncEngine, key: str, customer_id: str) -> bool:
    """True when this call created the row and so owns the key."""
    statement = (
        insert(send_ledger)
        .values(idempotency_key=key, customer_id=customer_id, status=CLAIMED)
        .on_conflict_do_nothing(index_elements=[send_ledger.c.idempotency_key])
        .returning(send_ledger.c.idempotency_key)
    )
    async with engine.begin() as conn:
        return (await conn.execute(statement)).first() is not None


async def get(engine: AsyncEngine, key: str) -> LedgerRow | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(send_ledger).where(send_ledger.c.idempotency_key == key))).first()
    return None if row is None else LedgerRow(**row._mapping)


async def take_over(engine: AsyncEngine, key: str, lease: timedelta) -> bool:
    """Claim a key whose previous attempt is gone: marked ambiguous, or claimed longer ago than the
    lease. The condition is re-checked under the row lock, so only one of several callers wins."""
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == key)
        .where(
            or_(
                send_ledger.c.status == AMBIGUOUS,
                (send_ledger.c.status == CLAIMED) & (send_ledger.c.claimed_at < func.now() - lease),
            )
        )
        .values(status=CLAIMED, claimed_at=func.now())
        .returning(send_ledger.c.idempotency_key)
    )
    async with engine.begin() as conn:
        return (await conn.execute(statement)).first() is not None


async def complete(
    engine: AsyncEngine, key: str, status: str, channel: str | None, provider_message_id: str | None
) -> None:
    """Record the outcome; a row that is already completed keeps its first outcome."""
    if status not in COMPLETED:
        raise ValueError(f"not an outcome status: {status!r}")
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == key)
        .where(send_ledger.c.status.in_([CLAIMED, AMBIGUOUS]))
        .values(
            status=status, channel=channel, provider_message_id=provider_message_id, completed_at=func.now()
        )
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


async def release(engine: AsyncEngine, key: str) -> None:
    """Give the key back after a failure that certainly sent nothing, so a retry starts afresh."""
    statement = delete(send_ledger).where(
        send_ledger.c.idempotency_key == key, send_ledger.c.status == CLAIMED
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


async def mark_ambiguous(engine: AsyncEngine, key: str) -> None:
    """The provider call may have gone through: a retry follows the purpose's rule."""
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == key, send_ledger.c.status == CLAIMED)
        .values(status=AMBIGUOUS)
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


# --- frequency caps: counted from the ledger, under a per-customer lock -------------------------------
RESERVED = ("sending", "sent", AMBIGUOUS)  # rows whose message is (or may be) on its way


async def lock_customer(conn: AsyncConnection, customer_id: str) -> None:
    """Serialize the send decisions of one customer until this transaction ends, so that two journeys
    deciding at the same moment cannot both pass a cap of 1."""
    await conn.execute(select(func.pg_advisory_xact_lock(CUSTOMER_LOCK_CLASS, func.hashtext(customer_id))))


async def count_reserved(
    conn: AsyncConnection, customer_id: str, purpose: str, channel: str | None, since: datetime
) -> int:
    """Messages of this purpose (on this channel; None: any) reserved for the customer since `since`."""
    query = (
        select(func.count())
        .select_from(send_ledger)
        .where(
            send_ledger.c.customer_id == customer_id,
            send_ledger.c.purpose == purpose,
            send_ledger.c.status.in_(RESERVED),
            send_ledger.c.reserved_at >= since,
        )
    )
    if channel is not None:
        query = query.where(send_ledger.c.channel == channel)
    return int((await conn.execute(query)).scalar_one())
