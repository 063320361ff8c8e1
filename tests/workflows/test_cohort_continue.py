"""CohortWorkflow continues as new at a safe point and goes on exactly (time-skipping server): a
small `continue_after` makes the run continue several times while members wait, join, hear an ETR
update and are restored; each hears each message once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
    ETR_NOTICE,
    HOLD_STEP,
    OUTAGE_HEAD,
    OUTAGE_STEPS,
    PAST_THE_HOLD,
    RecordingSends,
    add_customers,
    cohort_workers,
    premises_of,
    start_cohort,
    subject_event,
    until_waiting,
)

HELD = OUTAGE_HEAD + ETR_NOTICE + "steps:\n" + HOLD_STEP + OUTAGE_STEPS


async def test_a_run_continued_as_new_goes_on_where_it_was(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    ids = [c.customer_id for c in await add_customers(engine, 8, transformers=1)]
    now = await env.get_current_time()
    etr = now + timedelta(hours=3)
    trigger = subject_event(
        "outage.detected", incident_id="inc-can", premise_ids=premises_of(ids[:5]), etr=etr.isoformat()
    )
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, HELD, "inc-can", trigger, continue_after=20)
        first_run = (await handle.describe()).run_id
        await until_waiting(handle, {"hold": 5})
        await env.sleep(PAST_THE_HOLD)
        await until_waiting(handle, {"await_restore": 5})
        second = subject_event("outage.detected", incident_id="inc-can", premise_ids=premises_of(ids[5:]))
        await handle.signal(JOURNEY_EVENT_SIGNAL, second)
        await until_waiting(handle, {"hold": 3, "await_restore": 5})
        await env.sleep(PAST_THE_HOLD)
        await until_waiting(handle, {"await_restore": 8})
        await handle.signal(JOURNEY_EVENT_SIGNAL, second)  # seen before the run continued: nobody joins
        moved = subject_event(
            "outage.etr_updated", incident_id="inc-can", etr=(etr + timedelta(hours=2)).isoformat()
        )
        await handle.signal(JOURNEY_EVENT_SIGNAL, moved)
        await sends.until_sent("outage_etr", 8, tries=1200)
        assert sends.to("outage_etr") == ids
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-can"))
        state = await handle.result()
        last_run = (await handle.describe()).run_id
    assert last_run != first_run  # the run continued as new
    assert state.status == "completed" and state.members == 8
    for template in ("outage_detected", "outage_etr", "outage_restored"):
        assert Counter(s.customer_id for s in sends.sent if s.template == template) == Counter(ids), template
    assert sends.duplicates == 0
