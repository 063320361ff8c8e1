"""The SQL of the Temporal part of erasures (temporal_erasures): a row per erased customer, pending
(completed_at null) until their workflow executions are deleted in Temporal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import temporal_erasures

t = temporal_erasures.c


@dataclass(frozen=True)
class PendingErasure:
    customer_id: str
    erased_at: datetime
    attempts: int
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    workflows_deleted: int


async def record_pending(
    conn: AsyncConnection, customer_id: str, erased_at: datetime, retry_at: datetime
) -> None:
    """In the erasure's transaction: its Temporal part is pending until recorded completed; retried
    from `retry_at` (the request makes the first attempt itself)."""
    await conn.execute(
        insert(temporal_erasures)
        .values(customer_id=customer_id, erased_at=erased_at, next_attempt_at=retry_at)
        .on_conflict_do_nothing(index_elements=[t.customer_id])
    )


async def record_listing(
    conn: AsyncConnection,
    customer_id: str,
    erased_at: datetime,
    deleted: int,
    now: datetime,
    *,
    check_again_at: datetime | None,
) -> None:
    """An attempt that reached Temporal: `deleted` executions deleted, then listed. `check_again_at`
    None: none of theirs is left, completed (a repeat keeps the first time). Else some were deleted,
    or it is too early to trust a listing that found none: pending until a listing at
    `check_again_at` or later finds none left (reopening a completed one that had some left)."""
    completed = check_again_at is None
    statement = insert(temporal_erasures).values(
        customer_id=customer_id,
        erased_at=erased_at,
        attempts=1,
        last_attempt_at=now,
        next_attempt_at=check_again_at or now,
        completed_at=now if completed else None,
        workflows_deleted=deleted,
    )
    changes: dict[str, Any] = {
        "attempts": t.attempts + 1,
        "last_attempt_at": now,
        "last_error": None,
        "workflows_deleted": t.workflows_deleted + deleted,
        "completed_at": func.coalesce(t.completed_at, now) if completed else None,
    }
    if check_again_at is not None:
        changes["next_attempt_at"] = check_again_at
    await conn.execute(statement.on_conflict_do_update(index_elements=[t.customer_id], set_=changes))


async def record_failed(
    conn: AsyncConnection,
    customer_id: str,
    erased_at: datetime,
    error: str,
    now: datetime,
    *,
    first_delay: timedelta,
    longest_delay: timedelta,
) -> None:
    """A failed attempt: its error, and the next attempt after a delay that doubles with each attempt
    (first_delay, twice that, ... up to longest_delay). A completed one stays completed."""
    base, cap = first_delay.total_seconds(), longest_delay.total_seconds()
    statement = insert(temporal_erasures).values(
        customer_id=customer_id,
        erased_at=erased_at,
        attempts=1,
        last_error=error,
        last_attempt_at=now,
        next_attempt_at=now + first_delay,
    )
    delay = func.least(literal(base) * func.power(2, t.attempts), literal(cap))
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[t.customer_id],
            set_={
                "attempts": t.attempts + 1,
                "last_error": error,
                "last_attempt_at": now,
                "next_attempt_at": literal(now) + func.make_interval(0, 0, 0, 0, 0, 0, delay),
            },
            where=t.completed_at.is_(None),
        )
    )


async def pending(
    conn: AsyncConnection, *, due_at: datetime | None = None, limit: int = 100
) -> list[PendingErasure]:
    """The pending ones, the most overdue first; with `due_at`, only those due by then."""
    query = select(
        t.customer_id,
        t.erased_at,
        t.attempts,
        t.last_error,
        t.last_attempt_at,
        t.next_attempt_at,
        t.workflows_deleted,
    ).where(t.completed_at.is_(None))
    if due_at is not None:
        query = query.where(t.next_attempt_at <= due_at)
    query = query.order_by(t.next_attempt_at, t.customer_id).limit(limit)
    return [PendingErasure(**row._mapping) for row in await conn.execute(query)]


async def counts(conn: AsyncConnection) -> tuple[int, int]:
    """(pending, completed): the erasures whose Temporal part is still to do, and those done."""
    query = select(
        func.count().filter(t.completed_at.is_(None)), func.count().filter(t.completed_at.is_not(None))
    )
    pending_count, completed = (await conn.execute(query)).one()
    return int(pending_count), int(completed)
