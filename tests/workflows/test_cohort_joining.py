"""Customers added to a running outage (a second `outage.detected` merged into the incident) on the
time-skipping server: they join the run, get their own hold and their own detected notice, and then
hear the later updates with everyone else; the same event twice adds nobody twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_members, cohort_runs
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
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

HELD = OUTAGE_HEAD + "steps:\n" + HOLD_STEP + OUTAGE_STEPS


async def test_customers_named_by_a_second_report_get_their_own_notice_and_the_restoration(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    ids = [c.customer_id for c in await add_customers(engine, 8, transformers=1)]
    first, joining = ids[:5], ids[5:]
    trigger = subject_event("outage.detected", incident_id="inc-j", premise_ids=premises_of(first))
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, HELD, "inc-j", trigger, batch_size=2)
        await until_waiting(handle, {"hold": 5})
        await env.sleep(PAST_THE_HOLD)
        await until_waiting(handle, {"await_restore": 5})
        assert sends.to("outage_detected") == first
        # the second report names two premises already out and three more
        second = subject_event("outage.detected", incident_id="inc-j", premise_ids=premises_of(ids[3:]))
        await handle.signal(JOURNEY_EVENT_SIGNAL, second)
        await handle.signal(JOURNEY_EVENT_SIGNAL, second)  # delivered twice
        await until_waiting(handle, {"hold": 3, "await_restore": 5})
        await env.sleep(PAST_THE_HOLD)
        await until_waiting(handle, {"await_restore": 8})
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-j"))
        state = await handle.result()
    assert state.status == "completed" and state.members == 8
    detected = Counter(s.customer_id for s in sends.sent if s.template == "outage_detected")
    assert detected == Counter(ids)  # each once: the first five got no second notice
    assert sends.to("outage_restored") == ids
    assert sends.duplicates == 0
    async with engine.connect() as conn:
        numbers = dict(
            (await conn.execute(select(cohort_members.c.customer_id, cohort_members.c.member_no))).all()
        )
        members = (await conn.execute(select(cohort_runs.c.members))).scalar_one()
    assert [numbers[c] for c in joining] == [5, 6, 7]  # after the first members
    assert members == 8


async def test_power_back_within_the_newcomers_hold_drops_their_notice(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    ids = [c.customer_id for c in await add_customers(engine, 8, transformers=1)]
    first, joining = ids[:5], ids[5:]
    trigger = subject_event("outage.detected", incident_id="inc-m", premise_ids=premises_of(first))
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, HELD, "inc-m", trigger)
        # power came back at the newcomers' premises before they joined: an earlier outage's
        # restoration does not end their hold
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event("outage.restored", incident_id="inc-m", premise_ids=premises_of(joining)),
        )
        await env.sleep(PAST_THE_HOLD)
        await until_waiting(handle, {"await_restore": 5})
        second = subject_event("outage.detected", incident_id="inc-m", premise_ids=premises_of(joining))
        await handle.signal(JOURNEY_EVENT_SIGNAL, second)
        await until_waiting(handle, {"hold": 3, "await_restore": 5})
        await env.sleep(timedelta(minutes=2))
        # their power is back within their hold: no notice for them
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event("outage.restored", incident_id="inc-m", premise_ids=premises_of(joining)),
        )
        await until_waiting(handle, {"await_restore": 5})
        await env.sleep(timedelta(minutes=10))
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-m"))
        state = await handle.result()
    assert state.status == "completed"
    assert sends.to("outage_detected") == first
    assert sends.to("outage_restored") == first
