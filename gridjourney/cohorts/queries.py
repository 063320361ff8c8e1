"""Every SQL statement on `cohort_runs`: a run's row, its status and figures. The statements on
`cohort_members` are in cohorts/member_queries.py, the audience's in cohorts/audience_queries.py;
they are re-exported here, so that `queries.<name>` keeps reaching them all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.cohorts.audience_queries import (
    Candidate,
    audience_candidates,
    insert_audience,
    refresh_member_statistics,
)
from gridjourney.cohorts.member_queries import (
    FINISHED,
    Member,
    NewMember,
    add_members,
    batch_members,
    batch_members_and_moved_on,
    defer_members,
    insert_members,
    move_members,
    move_track,
    release_all,
    track_spans,
    where_members_are,
)
from gridjourney.db.tables import cohort_runs

__all__ = [
    "FINISHED",
    "FINISHED_STATUSES",
    "Candidate",
    "Member",
    "NewMember",
    "NewRun",
    "RunRow",
    "add_members",
    "audience_candidates",
    "batch_members",
    "batch_members_and_moved_on",
    "claim_run",
    "defer_members",
    "get_run",
    "insert_audience",
    "insert_members",
    "mark_resolved",
    "move_members",
    "move_track",
    "refresh_member_statistics",
    "release_all",
    "run_figures",
    "run_finished",
    "set_run_status",
    "track_spans",
    "where_members_are",
]

FINISHED_STATUSES = ("completed", "exited", "failed")  # cohort_runs.status of a run that is over


@dataclass(frozen=True)
class NewRun:
    run_id: str
    journey_id: str
    version: int
    cohort_key: str
    trigger_event_id: str
    subject: dict[str, Any]


async def claim_run(conn: AsyncConnection, run: NewRun) -> tuple[str, int, int]:
    """Create the run's row (status `resolving`) unless it exists, and lock it for this transaction:
    (status, members, holdout) as found."""
    await conn.execute(
        insert(cohort_runs)
        .values(
            run_id=run.run_id,
            journey_id=run.journey_id,
            version=run.version,
            cohort_key=run.cohort_key,
            trigger_event_id=uuid.UUID(run.trigger_event_id),
            status="resolving",
            subject=run.subject,
        )
        .on_conflict_do_nothing(index_elements=["run_id"])
    )
    row = (
        await conn.execute(
            select(cohort_runs.c.status, cohort_runs.c.members, cohort_runs.c.holdout)
            .where(cohort_runs.c.run_id == run.run_id)
            .with_for_update()
        )
    ).one()
    return row.status, row.members, row.holdout


async def mark_resolved(
    conn: AsyncConnection,
    run_id: str,
    *,
    members: int,
    holdout: int,
    target_kw: float | None,
    expected_kw: float | None,
) -> None:
    await conn.execute(
        update(cohort_runs)
        .where(cohort_runs.c.run_id == run_id)
        .values(
            status="running", members=members, holdout=holdout, target_kw=target_kw, expected_kw=expected_kw
        )
    )


async def run_figures(conn: AsyncConnection, run_id: str) -> tuple[float | None, float | None]:
    """(target_kw, expected_kw) of a resolved run."""
    row = (
        await conn.execute(
            select(cohort_runs.c.target_kw, cohort_runs.c.expected_kw).where(cohort_runs.c.run_id == run_id)
        )
    ).one()
    return row.target_kw, row.expected_kw


async def set_run_status(
    conn: AsyncConnection,
    run_id: str,
    status: str,
    *,
    exit_reason: str | None,
    subject: dict[str, Any] | None,
) -> None:
    values: dict[str, Any] = {"status": status}
    if status in FINISHED_STATUSES:
        values["finished_at"] = func.now()
        values["exit_reason"] = exit_reason
    if subject is not None:
        values["subject"] = subject
    await conn.execute(update(cohort_runs).where(cohort_runs.c.run_id == run_id).values(**values))


async def run_finished(conn: AsyncConnection, run_id: str) -> bool:
    """Whether the run exists and has completed, exited or failed (the router starts it no more)."""
    status = (
        await conn.execute(select(cohort_runs.c.status).where(cohort_runs.c.run_id == run_id))
    ).scalar_one_or_none()
    return status in FINISHED_STATUSES


@dataclass(frozen=True)
class RunRow:
    """A run as `GET /v1/instances/{run id}` shows it (not its subject: the event may name thousands
    of premises)."""

    run_id: str
    journey_id: str
    version: int
    cohort_key: str
    status: str
    members: int
    holdout: int
    target_kw: float | None
    expected_kw: float | None
    exit_reason: str | None
    started_at: datetime
    finished_at: datetime | None


async def get_run(conn: AsyncConnection, run_id: str) -> RunRow | None:
    c = cohort_runs.c
    row = (
        await conn.execute(
            select(
                c.run_id,
                c.journey_id,
                c.version,
                c.cohort_key,
                c.status,
                c.members,
                c.holdout,
                c.target_kw,
                c.expected_kw,
                c.exit_reason,
                c.started_at,
                c.finished_at,
            ).where(c.run_id == run_id)
        )
    ).one_or_none()
    return None if row is None else RunRow(**row._asdict())
