"""CohortWorkflow on bad input: the run fails with the reason instead of retrying for ever."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_runs
from gridjourney.workflows.cohort_contracts import CohortState
from tests.cohorts.support import (
    DR_HEAD,
    DR_NOTICE,
    RecordingSends,
    add_customers,
    cohort_workers,
    dr_scheduled,
    start_cohort,
)

DR_TARGET = (
    DR_HEAD + "  audience: {program: event.program, target: {kw: event.target_kw}}\nsteps:\n" + DR_NOTICE
)


async def test_a_target_that_is_not_a_number_fails_the_run_once(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    await add_customers(engine, 5, program="ptr")
    now = await env.get_current_time()
    trigger = dr_scheduled("dr-1", now + timedelta(days=1), target_kw="a lot")
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, DR_TARGET, "dr-1", trigger)
        final: CohortState = await asyncio.wait_for(handle.result(), timeout=60)
    assert final.status == "failed"
    assert final.exit_reason is not None and "not a number" in final.exit_reason
    assert sends.calls == 0
    async with engine.connect() as conn:
        row = (await conn.execute(select(cohort_runs.c.status, cohort_runs.c.exit_reason))).one()
    assert row.status == "failed" and row.exit_reason == final.exit_reason
    history = await handle.fetch_history()
    failures = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    assert len(failures) == 1  # not retried
