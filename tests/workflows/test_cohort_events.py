"""CohortWorkflow's signalled events over a long run: wait_for reads past the events it keeps."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortInput, CohortState
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
    SEND_TASK_QUEUE,
    TASK_QUEUE,
    RecordingSends,
    add_customers,
    cohort_workers,
    subject_event,
)
from tests.workflows.standins import compiled

OUTAGE = """
id: outage_cohort
mode: cohort
purpose: safety
trigger: {event: outage.detected}
cohort:
  key: event.incident_id
  audience: {grid: true}
steps:
  - id: detected
    send: {channels: [sms], template: outage_detected}
  - id: await_restore
    wait_for: {event: outage.restored, timeout: 2d, on_timeout: end}
  - id: restored
    send: {channels: [sms], template: outage_restored}
"""


async def _waiting(
    handle: WorkflowHandle[CohortWorkflow, CohortState], step: str, members: int
) -> CohortState:
    state: CohortState = CohortState()
    for _ in range(300):
        state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        if state.per_step().get(step, 0) == members:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"members wait at {state.per_step()}, not {members} at {step}")
    return state


async def test_restorations_after_more_events_than_are_kept_still_move_members(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 20, transformers=2)
    trigger = subject_event("outage.detected", incident_id="inc-1", transformer_ids=["t-0", "t-1"])
    sends = RecordingSends(engine)
    journey = compiled(OUTAGE)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await env.client.start_workflow(
            CohortWorkflow.run,
            CohortInput(
                journey=journey,
                cohort_key="inc-1",
                trigger=trigger,
                send_task_queue=SEND_TASK_QUEUE,
                batch_size=50,
                events_kept=3,
            ),
            id="cohort:outage_cohort:inc-1",
            task_queue=TASK_QUEUE,
        )
        await _waiting(handle, "await_restore", 20)
        # more restorations than the run keeps, each of a transformer outside the run: they are read
        # one by one, and the oldest are dropped
        for n in range(7):
            await handle.signal(
                JOURNEY_EVENT_SIGNAL,
                subject_event("outage.restored", incident_id="inc-1", transformer_ids=[f"t-x{n}"]),
            )
        await _waiting(handle, "await_restore", 20)
        await env.sleep(timedelta(minutes=1))
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event("outage.restored", incident_id="inc-1", transformer_ids=["t-0"]),
        )
        await _waiting(handle, "await_restore", 10)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-1"))
        final = await handle.result()
    assert final.status == "completed"
    assert sends.to("outage_restored") == sorted(c.customer_id for c in customers)
