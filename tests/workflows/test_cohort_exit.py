"""CohortWorkflow's exit while a send batch runs: the run waits until the batch has stopped before it
releases the members, so nothing is sent after the run has exited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from gridjourney.cohorts import queries
from gridjourney.workflows.cohort_contracts import (
    COHORT_STATE_QUERY,
    RECORD_RUN,
    SEND_COHORT_BATCH,
    BatchOutcome,
    CohortSendInput,
    CohortState,
)
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
    DR_HEAD,
    DR_NOTICE,
    add_customers,
    cohort_workers,
    dr_scheduled,
    start_cohort,
    subject_event,
)

DR_EVENT = (
    DR_HEAD + "  audience: {program: event.program}\nexit_on: [dr.event_cancelled]\nsteps:\n" + DR_NOTICE
)


@dataclass
class SlowSends:
    """A SEND_COHORT_BATCH that is still sending when the run exits: it heartbeats until cancelled,
    then takes a moment to stop (a provider call in flight)."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False

    @activity.defn(name=SEND_COHORT_BATCH)
    async def send_cohort_batch(self, request: CohortSendInput) -> BatchOutcome:
        self.started.set()
        try:
            while True:
                activity.heartbeat()
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)
            self.stopped = True
            raise


@asynccontextmanager
async def in_its_first_batch(
    engine: AsyncEngine, env: WorkflowEnvironment, tmp_path: Path, sends: SlowSends
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A DR run of 5 members, its workers running, once its first send batch has begun (and hangs)."""
    await add_customers(engine, 5, program="ptr")
    now = await env.get_current_time()
    trigger = dr_scheduled("dr-1", now + timedelta(days=1))
    async with cohort_workers(
        env.client,
        engine,
        [sends.send_cohort_batch],
        tmp_path,
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ):
        handle = await start_cohort(env.client, DR_EVENT, "dr-1", trigger)
        await asyncio.wait_for(sends.started.wait(), timeout=30)
        yield handle


async def test_an_exit_waits_for_running_batches_to_stop_before_releasing_members(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sends = SlowSends()
    async with in_its_first_batch(engine, time_skipping_env, tmp_path, sends) as handle:
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("dr.event_cancelled", dr_event_id="dr-1"))
        final = await asyncio.wait_for(handle.result(), timeout=60)
        history = await handle.fetch_history()
    assert final.status == "exited"
    assert sends.stopped
    send_cancelled = next(
        (n for n, e in enumerate(history.events) if e.HasField("activity_task_canceled_event_attributes")),
        len(history.events),  # never seen by the run: it did not wait for the batch to stop
    )
    exit_recorded = next(
        n
        for n, e in enumerate(history.events)
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == RECORD_RUN
        and n > 0
        and any(h.HasField("workflow_execution_signaled_event_attributes") for h in history.events[:n])
    )
    assert send_cancelled < exit_recorded  # the batch had stopped before the members were released


async def test_a_cancelled_run_exits_as_cancelled_after_its_batches_stop(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """POST /v1/instances/{run}/cancel asks Temporal to cancel the run: it exits like an exit_on event
    (reason `cancelled`), the running batch stopped first and every member released, then Temporal
    marks it cancelled. Before workflow.patched('cancel-exits') the run stopped where it was: its row
    said running for ever, its members still waited at their step."""
    sends = SlowSends()
    async with in_its_first_batch(engine, time_skipping_env, tmp_path, sends) as handle:
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), timeout=60)
        assert isinstance(failure.value.cause, CancelledError)
        final = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        history = await handle.fetch_history()
    assert (final.status, final.exit_reason) == ("exited", "cancelled")
    assert sends.stopped
    send_cancelled = next(
        n for n, e in enumerate(history.events) if e.HasField("activity_task_canceled_event_attributes")
    )
    exit_recorded = max(
        n
        for n, e in enumerate(history.events)
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == RECORD_RUN
    )
    assert send_cancelled < exit_recorded  # the batch had stopped before the members were released
    async with engine.connect() as conn:
        row = await queries.get_run(conn, handle.id)
        where = await queries.where_members_are(conn, handle.id)
    assert row is not None and (row.status, row.exit_reason) == ("exited", "cancelled")
    assert set(where) == {None}  # every member left the run
