"""CohortWorkflow's `on_update` notices (incidents/etr.py's rule) on the time-skipping server."""

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

# members are held 10 minutes before the first notice: an ETR update meanwhile finds nobody at
# await_restore
HELD_OUTAGE = """
id: outage_cohort
mode: cohort
purpose: safety
trigger: {event: outage.detected}
cohort:
  key: event.incident_id
  audience: {grid: true}
  on_update:
    - event: outage.etr_updated
      send: {channels: [sms], template: outage_etr}
      at_steps: [await_restore]
      moved_by: {field: etr, more_than: 30m}
      at_most_every: 1h
steps:
  - id: hold
    wait: 10m
  - id: detected
    send: {channels: [sms], template: outage_detected}
  - id: await_restore
    wait_for: {event: outage.restored, timeout: 2d, on_timeout: end}
  - id: restored
    send: {channels: [sms], template: outage_restored}
"""


async def _waiting(handle: WorkflowHandle[CohortWorkflow, CohortState], step: str, members: int) -> None:
    state: CohortState = CohortState()
    for _ in range(300):
        state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        if state.per_step() == {step: members}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"members wait at {state.per_step()}, not {members} at {step}")


async def test_an_etr_update_nobody_was_told_does_not_become_the_baseline(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 10, transformers=1)
    now = await env.get_current_time()
    etr = now + timedelta(hours=4)
    trigger = subject_event(
        "outage.detected", incident_id="inc-1", transformer_ids=["t-0"], etr=etr.isoformat()
    )
    moved = (etr + timedelta(hours=2)).isoformat()
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await env.client.start_workflow(
            CohortWorkflow.run,
            CohortInput(
                journey=compiled(HELD_OUTAGE),
                cohort_key="inc-1",
                trigger=trigger,
                send_task_queue=SEND_TASK_QUEUE,
            ),
            id="cohort:outage_cohort:inc-1",
            task_queue=TASK_QUEUE,
        )
        await _waiting(handle, "hold", 10)
        # nobody waits at await_restore yet: this estimate reaches no one
        await handle.signal(
            JOURNEY_EVENT_SIGNAL, subject_event("outage.etr_updated", incident_id="inc-1", etr=moved)
        )
        await env.sleep(timedelta(minutes=11))
        await _waiting(handle, "await_restore", 10)
        assert sends.to("outage_detected") == sorted(c.customer_id for c in customers)
        assert sends.to("outage_etr") == []
        # the same estimate again, now that they wait: it moved 2 h from the one they were told (the
        # detected notice's), so they hear it, though the first update came within the hour
        await handle.signal(
            JOURNEY_EVENT_SIGNAL, subject_event("outage.etr_updated", incident_id="inc-1", etr=moved)
        )
        for _ in range(100):
            if sends.to("outage_etr"):
                break
            await asyncio.sleep(0.1)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-1"))
        assert (await handle.result()).status == "completed"
    assert sends.to("outage_etr") == sorted(c.customer_id for c in customers)
