"""All SQL of the metrics read at scrape time: the send ledger's rows in doubt and the cohort runs'
members. (Subscription lag and dead letters come from events/subscription_status.py, the same figures
as `/healthz`.)"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.activities.ledger_rows import IN_DOUBT, is_open, unowned
from gridjourney.cohorts.queries import FINISHED_STATUSES
from gridjourney.db.tables import cohort_runs, send_ledger


async def ledger_rows_in_doubt(conn: AsyncConnection) -> dict[str, int]:
    """Rows whose provider may have the message while no attempt holds them, by status (calling,
    ambiguous): what `gridjourney sends resolve` is for. A call in flight is not in doubt."""
    query = (
        select(send_ledger.c.status, func.count())
        .where(is_open(), send_ledger.c.status.in_(IN_DOUBT), unowned())
        .group_by(send_ledger.c.status)
    )
    found = {str(row[0]): int(row[1]) for row in await conn.execute(query)}
    return {status: found.get(status, 0) for status in IN_DOUBT}


async def cohort_members(conn: AsyncConnection) -> tuple[dict[tuple[str, bool], int], dict[str, int]]:
    """The members every cohort run has taken in, by journey and holdout, and those of the runs that
    are over, by journey. Read from the runs' own counts (cohort_runs.members, .holdout: one row a
    run), never from the member rows, so a scrape stays cheap at 100,000 members a run."""
    r = cohort_runs.c
    entered: dict[tuple[str, bool], int] = {}
    exited: dict[str, int] = {}
    query = select(
        r.journey_id,
        func.sum(r.members - r.holdout),
        func.sum(r.holdout),
        func.sum(r.members).filter(r.status.in_(FINISHED_STATUSES)),
    ).group_by(r.journey_id)
    for journey, treated, holdout, over in await conn.execute(query):
        entered[str(journey), False] = int(treated or 0)
        entered[str(journey), True] = int(holdout or 0)
        exited[str(journey)] = int(over or 0)
    return entered, exited
