"""The send ledger for one key: every statement of the per-customer send (activities/send.py) and of
the operators on `send_ledger`. The rows, their statuses and the rules all statements share:
activities/ledger_rows.py. The same moves for the keys of a cohort chunk (activities/ledger_many.py)
and the frequency caps counted from the ledger (activities/ledger_caps.py) are re-exported here, so
that callers use one module.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gridjourney.activities.ledger_caps import (
    count_reserved,
    count_reserved_many,
    lock_customer,
    lock_customers,
)
from gridjourney.activities.ledger_many import (
    Completion,
    acquire_many,
    claim_new_many,
    complete_many,
    mark_ambiguous_many,
    release_many,
    renew_many,
    reserve_many,
    rows_of,
    start_call_many,
    unreserve_many,
)
from gridjourney.activities.ledger_rows import (
    AMBIGUOUS,
    CALLING,
    CLAIMED,
    COMPLETED,
    CUSTOMER_LOCK_CLASS,
    IN_DOUBT,
    OPEN,
    OWNED,
    RELEASED,
    RESERVED,
    SENDING,
    STATUSES,
    ClaimLost,
    LedgerRow,
    is_open,
    ledger_row,
    take_over,
    unowned,
)
from gridjourney.db.tables import send_ledger

__all__ = [
    "AMBIGUOUS",
    "CALLING",
    "CLAIMED",
    "COMPLETED",
    "CUSTOMER_LOCK_CLASS",
    "IN_DOUBT",
    "OPEN",
    "OWNED",
    "RELEASED",
    "RESERVED",
    "SENDING",
    "STATUSES",
    "ClaimLost",
    "Completion",
    "LedgerRow",
    "acquire",
    "acquire_many",
    "claim_new_many",
    "complete",
    "complete_many",
    "count_reserved",
    "count_reserved_many",
    "get",
    "get_in",
    "list_rows",
    "lock_customer",
    "lock_customers",
    "mark_ambiguous",
    "mark_ambiguous_many",
    "release",
    "release_many",
    "renew",
    "renew_many",
    "reserve",
    "reserve_many",
    "rows_of",
    "start_call",
    "start_call_many",
    "take_for_operator",
    "unreserve",
    "unreserve_many",
]


def _owned(key: str, token: str, *statuses: str) -> ColumnElement[bool]:
    return and_(
        send_ledger.c.idempotency_key == key,
        send_ledger.c.owner == token,
        send_ledger.c.status.in_(statuses),
    )


async def acquire(
    conn: AsyncConnection,
    key: str,
    token: str,
    lease: timedelta,
    *,
    customer_id: str,
    purpose: str | None = None,
    journey_id: str | None = None,
    step_id: str | None = None,
) -> LedgerRow | None:
    """Own the key: a new row, or one whose attempt is gone. None when it is completed or another
    attempt holds it. The returned status tells the caller where the last attempt stopped: `claimed`
    or `sending` (nothing reached the provider), `calling` or `ambiguous` (the provider may have
    the message).
    A released row comes back as `claimed`. The condition is checked under the row lock, so of
    several callers exactly one wins."""
    expires = func.now() + lease
    statement = insert(send_ledger).values(
        idempotency_key=key,
        customer_id=customer_id,
        status=CLAIMED,
        owner=token,
        lease_expires_at=expires,
        purpose=purpose,
        journey_id=journey_id,
        step_id=step_id,
        attempts=1,
    )
    upsert = take_over(statement, token, expires).returning(*send_ledger.c)
    row = (await conn.execute(upsert)).mappings().first()
    return None if row is None else ledger_row(row)


async def get(engine: AsyncEngine, key: str) -> LedgerRow | None:
    async with engine.connect() as conn:
        return await get_in(conn, key)


async def get_in(conn: AsyncConnection, key: str) -> LedgerRow | None:
    row = (
        (await conn.execute(select(send_ledger).where(send_ledger.c.idempotency_key == key)))
        .mappings()
        .first()
    )
    return None if row is None else ledger_row(row)


async def _moved(conn: AsyncConnection, statement: object) -> bool:
    result = await conn.execute(statement.returning(send_ledger.c.idempotency_key))  # type: ignore[attr-defined]
    return result.first() is not None


async def reserve(
    conn: AsyncConnection,
    key: str,
    token: str,
    channel: str,
    purpose: str,
    lease: timedelta,
    *,
    at: datetime | None = None,
) -> bool:
    """claimed → sending: the channel is chosen and counts against the customer's caps from `at` on.
    Run in the eligibility transaction, after `lock_customer`. `at`: the decision's time, on the
    clock the caps' windows are counted by (activities/journey_activities.py `decision_time`); None: the
    database's now."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED))
        .values(
            status=SENDING,
            channel=channel,
            purpose=purpose,
            reserved_at=func.now() if at is None else at,
            lease_expires_at=func.now() + lease,
        )
    )
    return await _moved(conn, statement)


async def renew(conn: AsyncConnection, key: str, token: str, lease: timedelta) -> bool:
    """Keep the lease alive (each heartbeat, and right before the provider call)."""
    statement = (
        update(send_ledger).where(_owned(key, token, *OWNED)).values(lease_expires_at=func.now() + lease)
    )
    return await _moved(conn, statement)


async def start_call(conn: AsyncConnection, key: str, token: str, lease: timedelta) -> bool:
    """sending → calling, with a fresh lease, right before the provider call: from here on the provider
    may have the message, so a take-over looks it up before sending again."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, SENDING, CALLING))
        .values(status=CALLING, lease_expires_at=func.now() + lease)
    )
    return await _moved(conn, statement)


async def complete(
    conn: AsyncConnection,
    key: str,
    token: str,
    status: str,
    channel: str | None,
    provider_message_id: str | None,
    note: str | None = None,
) -> bool:
    """Record the outcome (in the transaction that appends its event)."""
    if status not in COMPLETED:
        raise ValueError(f"not an outcome status: {status!r}")
    statement = (
        update(send_ledger)
        .where(_owned(key, token, *OWNED))
        .values(
            status=status,
            channel=channel,
            provider_message_id=provider_message_id,
            completed_at=func.now(),
            lease_expires_at=None,
            note=note,
        )
    )
    return await _moved(conn, statement)


async def release(conn: AsyncConnection, key: str, token: str, note: str) -> bool:
    """Give the key back: nothing was sent, and the next attempt sends afresh."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, *OWNED))
        .values(status=RELEASED, channel=None, reserved_at=None, owner=None, lease_expires_at=None, note=note)
    )
    return await _moved(conn, statement)


async def mark_ambiguous(
    conn: AsyncConnection, key: str, token: str, note: str, look_up_after: timedelta
) -> bool:
    """The provider may have the message and cannot tell us. The owner lets go; the next attempt may
    take the row and look the message up (or hold it for an operator) once `look_up_after` has
    passed: a request that timed out can still be taken by the provider meanwhile."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, *OWNED))
        .values(status=AMBIGUOUS, owner=None, lease_expires_at=func.now() + look_up_after, note=note)
    )
    return await _moved(conn, statement)


async def unreserve(conn: AsyncConnection, key: str, token: str) -> bool:
    """sending/calling/ambiguous → claimed: the provider does not have (or never got) the message, so
    this attempt decides and reserves again (the old reservation must not count against the new
    decision's caps)."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, SENDING, CALLING, AMBIGUOUS))
        .values(status=CLAIMED, channel=None, reserved_at=None)
    )
    return await _moved(conn, statement)


# --- operators: rows in doubt, resolved by hand -------------------------------------------------------
async def list_rows(
    conn: AsyncConnection, status: str | None, *, after_key: str | None = None, limit: int = 100
) -> list[LedgerRow]:
    """Rows by key (stable keyset order), optionally of one status."""
    query = select(send_ledger).order_by(send_ledger.c.idempotency_key).limit(limit)
    if status is not None:
        query = query.where(send_ledger.c.status == status)
        if status not in COMPLETED:
            query = query.where(is_open())  # through the open rows' index, not every row
    if after_key is not None:
        query = query.where(send_ledger.c.idempotency_key > after_key)
    return [ledger_row(row) for row in (await conn.execute(query)).mappings()]


async def take_for_operator(conn: AsyncConnection, key: str, token: str) -> LedgerRow | None:
    """An operator takes an open row no live attempt holds (same rule as `acquire`), without counting
    an attempt. None: unknown, completed, or still in flight."""
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == key)
        .where(send_ledger.c.status.in_(OWNED), unowned())
        .values(owner=token, lease_expires_at=func.now() + timedelta(minutes=1))
        .returning(*send_ledger.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return None if row is None else ledger_row(row)
