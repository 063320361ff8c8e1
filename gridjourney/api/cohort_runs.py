"""A cohort run (`cohort:{journey id}:{key}`, one CohortWorkflow) as `GET /v1/instances/{id}` shows
it: its row in cohort_runs, where its members are, and the workflow's own tally (the `cohort_state`
query) while Temporal still knows the run."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cohorts import queries as cohort_queries
from gridjourney.workflows.cohort_contracts import CohortState


class CohortRunView(BaseModel):
    cohort_key: str = Field(description="What made the run: the DR event id, the outage incident, the fire.")
    status: str = Field(description="As recorded: resolving | running | completed | exited | failed.")
    members: int = Field(description="Customers in the run, the holdout included.")
    holdout: int
    remaining: int = Field(description="Members still waiting at a step (0 once the run is over).")
    waiting: dict[str, int] = Field(description="Members waiting at each step.")
    sent: int | None = Field(
        None,
        description="Messages the run's batches sent (the workflow's tally; null when it cannot answer).",
    )
    counts: dict[str, int] = Field(
        default_factory=dict,
        description="Batch outcomes summed over the run: sent, suppressed, deferred, ...",
    )
    target_kw: float | None = None
    expected_kw: float | None = None
    exit_reason: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


async def cohort_run_view(
    engine: AsyncEngine, run_id: str, live: CohortState | None
) -> tuple[cohort_queries.RunRow | None, CohortRunView | None]:
    """The run's row and its view; (None, None) when Postgres has no such run."""
    async with engine.connect() as conn:
        row = await cohort_queries.get_run(conn, run_id)
        where = await cohort_queries.where_members_are(conn, run_id) if row is not None else {}
    if row is None:
        return None, None
    waiting = {step: count for step, count in where.items() if step is not None}
    view = CohortRunView(
        cohort_key=row.cohort_key,
        status=row.status,
        members=row.members,
        holdout=row.holdout,
        remaining=sum(waiting.values()),
        waiting=waiting,
        sent=live.counts.get("sent", 0) if live is not None else None,
        counts=dict(live.counts) if live is not None else {},
        target_kw=row.target_kw,
        expected_kw=row.expected_kw,
        exit_reason=row.exit_reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
    return row, view
