"""CohortWorkflow end to end with the real activities: the cohort engine's and helper C's
SEND_COHORT_BATCH (eligibility, ledger, render, the Twilio stand-in over HTTP), real Postgres, the
time-skipping server. An outage notice and the restoration reach every premise once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.activities import JourneyActivities
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.db.tables import cohort_members
from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortState
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.activities.conftest import activities, senders, settings, standin, templates_dir  # noqa: F401
from tests.cohorts.support import add_customers, cohort_workers, outage_head, start_cohort, subject_event

OUTAGE = (
    outage_head("outage_notice")
    + """steps:
  - id: detected
    send: {channels: [sms], template: outage}
  - id: await_restore
    wait_for: {event: outage.restored, timeout: 2d}
  - id: restored
    send: {channels: [sms], template: outage}
"""
)


async def test_an_outage_cohort_sends_each_premise_one_notice_and_one_restoration(
    engine: AsyncEngine,
    time_skipping_env: WorkflowEnvironment,
    activities: JourneyActivities,  # noqa: F811
    standin: TwilioStandIn,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 120, transformers=3)
    out = [c for c in customers if c.transformer_id in ("t-0", "t-1")]
    trigger = subject_event("outage.detected", incident_id="inc-9", transformer_ids=["t-0", "t-1"])
    async with cohort_workers(env.client, engine, activities.send_activities, tmp_path):
        handle = await start_cohort(env.client, OUTAGE, "inc-9", trigger, batch_size=25, concurrency=3)
        for _ in range(300):
            state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
            if state.per_step() == {"await_restore": len(out)}:
                break
            await asyncio.sleep(0.1)
        assert len(standin.received) == len(out)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-9"))
        final = await handle.result()

    assert final.status == "completed"
    phones = Counter(message.to for message in standin.received)
    assert len(phones) == len(out) and set(phones.values()) == {2}
    async with engine.connect() as conn:
        waiting = (await conn.execute(select(cohort_members.c.step_id).distinct())).scalars().all()
    assert waiting == [None]  # every member has finished
