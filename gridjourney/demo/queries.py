"""What the demo reads of its cohort runs: the runs' rows and their members."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import cohort_members, cohort_runs


@dataclass(frozen=True)
class RunRow:
    run_id: str
    journey_id: str
    cohort_key: str
    status: str
    members: int
    holdout: int
    subject: dict[str, Any]


@dataclass(frozen=True)
class MemberRow:
    customer_id: str
    premise_id: str | None
    holdout: bool
    step_id: str | None
    left_reason: str | None


async def runs(conn: AsyncConnection, run_ids: Collection[str]) -> dict[str, RunRow]:
    c = cohort_runs.c
    rows = await conn.execute(
        select(c.run_id, c.journey_id, c.cohort_key, c.status, c.members, c.holdout, c.subject).where(
            c.run_id.in_(list(run_ids))
        )
    )
    return {row.run_id: RunRow(*row) for row in rows}


async def members(conn: AsyncConnection, run_id: str) -> list[MemberRow]:
    c = cohort_members.c
    rows = await conn.execute(
        select(c.customer_id, c.premise_id, c.holdout, c.step_id, c.left_reason)
        .where(c.run_id == run_id)
        .order_by(c.member_no)
    )
    return [MemberRow(*row) for row in rows]
