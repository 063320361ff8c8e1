"""Every SQL statement on `cohort_runs` and `cohort_members` is here.

A member waits at a step in a track (workflows/cohort_contracts.py); batch activities read the
members of one track over a range of `member_no` and move each one on when they are done with it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import cohort_members
from gridjourney.workflows.cohort_contracts import MemberBatch


@dataclass(frozen=True)
class Member:
    """One member of a cohort run as a batch activity works on it."""

    customer_id: str
    member_no: int
    premise_id: str | None
    transformer_id: str | None
    feeder_id: str | None
    segment: str | None
    holdout: bool
    expected_kw: float | None
    deferred_until: datetime | None


async def batch_members(conn: AsyncConnection, batch: MemberBatch) -> list[Member]:
    """The members of `batch.track` with member_no in [lo, hi), in order, not yet finished.

    A track waits at one step, so the track alone names its members: `batch.step_id` is the step
    for ledger keys and records (an `on_update` notice passes `{event type}#{n}` there)."""
    c = cohort_members.c
    rows = await conn.execute(
        select(
            c.customer_id,
            c.member_no,
            c.premise_id,
            c.transformer_id,
            c.feeder_id,
            c.segment,
            c.holdout,
            c.expected_kw,
            c.deferred_until,
        )
        .where(
            c.run_id == batch.run_id,
            c.track == batch.track,
            c.step_id.is_not(None),
            c.member_no >= batch.lo,
            c.member_no < batch.hi,
        )
        .order_by(c.member_no)
    )
    return [
        Member(
            customer_id=row.customer_id,
            member_no=row.member_no,
            premise_id=row.premise_id,
            transformer_id=row.transformer_id,
            feeder_id=row.feeder_id,
            segment=row.segment,
            holdout=row.holdout,
            expected_kw=row.expected_kw,
            deferred_until=row.deferred_until,
        )
        for row in rows
    ]


async def move_members(
    conn: AsyncConnection,
    run_id: str,
    customer_ids: Collection[str],
    step_id: str | None,
    track: str | None,
    left_reason: str | None = None,
) -> int:
    """Move the members to `step_id` in `track` (step None: they have finished, for `left_reason`).
    A move clears any deferral. Returns the number of members moved."""
    if not customer_ids:
        return 0
    c = cohort_members.c
    result = await conn.execute(
        update(cohort_members)
        .where(c.run_id == run_id, c.customer_id.in_(list(customer_ids)))
        .values(
            step_id=step_id,
            track=track if step_id is not None else None,
            deferred_until=None,
            left_reason=left_reason if step_id is None else None,
            updated_at=func.now(),
        )
    )
    return result.rowcount or 0


async def defer_members(
    conn: AsyncConnection, run_id: str, customer_ids: Collection[str], until: datetime
) -> int:
    """Leave the members where they are, not to be sent to before `until` (quiet hours)."""
    if not customer_ids:
        return 0
    c = cohort_members.c
    result = await conn.execute(
        update(cohort_members)
        .where(c.run_id == run_id, c.customer_id.in_(list(customer_ids)))
        .values(deferred_until=until, updated_at=func.now())
    )
    return result.rowcount or 0
