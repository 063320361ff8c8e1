"""CohortWorkflow's `on_update` notices (incidents/etr.py's rule) on the time-skipping server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
    AT_MOST_HOURLY,
    ETR_NOTICE,
    OUTAGE_HEAD,
    OUTAGE_STEPS,
    Handle,
    RecordingSends,
    add_customers,
    cohort_workers,
    start_cohort,
    subject_event,
    until_waiting,
)

# members are held 10 minutes before the first notice: an ETR update meanwhile finds nobody at
# await_restore
HELD_OUTAGE = (
    OUTAGE_HEAD + ETR_NOTICE + AT_MOST_HOURLY + "steps:\n  - id: hold\n    wait: 10m\n" + OUTAGE_STEPS
)


async def _waiting(handle: Handle, step: str, members: int) -> None:
    await until_waiting(handle, {step: members})


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
        handle = await start_cohort(env.client, HELD_OUTAGE, "inc-1", trigger)
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
