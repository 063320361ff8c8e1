"""CohortWorkflow's signalled events: wait_for reads past the events it keeps; a partial restoration's
batches; modifications arriving out of order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_runs
from gridjourney.workflows.cohort_contracts import (
    SEND_COHORT_BATCH,
    CohortSendInput,
    CohortState,
)
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef
from tests.cohorts.support import (
    DR_HEAD,
    DR_STEPS,
    OUTAGE_HEAD,
    OUTAGE_STEPS,
    PROGRAM_AUDIENCE,
    Handle,
    RecordingSends,
    add_customers,
    cohort_workers,
    start_cohort,
    subject_event,
    until_waiting,
)

OUTAGE = OUTAGE_HEAD + "steps:\n" + OUTAGE_STEPS

DR_EVENT = DR_HEAD + PROGRAM_AUDIENCE + "steps:\n" + DR_STEPS


async def _waiting(handle: Handle, step: str, members: int) -> CohortState:
    return await until_waiting(handle, {step: members}, exactly=False)


async def test_restorations_after_more_events_than_are_kept_still_move_members(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 20, transformers=2)
    trigger = subject_event("outage.detected", incident_id="inc-1", transformer_ids=["t-0", "t-1"])
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, OUTAGE, "inc-1", trigger, batch_size=50, events_kept=3)
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


async def test_a_late_older_modification_does_not_undo_a_newer_one(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    await add_customers(engine, 10, program="ptr")
    now = await env.get_current_time()
    start = now + timedelta(days=1)
    trigger = subject_event(
        "dr.event_scheduled",
        dr_event_id="dr-1",
        program="ptr",
        start=start.isoformat(),
        end=(start + timedelta(hours=3)).isoformat(),
    )

    def modified(number: int, moved_by: timedelta) -> EventRef:
        moved = start + moved_by
        return subject_event(
            "dr.event_modified",
            dr_event_id="dr-1",
            modification_number=number,
            start=moved.isoformat(),
            end=(moved + timedelta(hours=3)).isoformat(),
        )

    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, DR_EVENT, "dr-1", trigger)
        await _waiting(handle, "before_start", 10)
        await handle.signal(JOURNEY_EVENT_SIGNAL, modified(2, timedelta(hours=6)))
        await handle.signal(JOURNEY_EVENT_SIGNAL, modified(1, timedelta(hours=2)))  # older, late
        final = await handle.result()
    assert final.status == "completed"
    reminders = [s.at for s in sends.sent if s.template == "dr_reminder"]
    assert len(reminders) == 10
    assert min(reminders) >= start + timedelta(hours=5)  # modification 2's start - 1 h
    async with engine.connect() as conn:
        subject = (
            await conn.execute(
                select(cohort_runs.c.subject).where(cohort_runs.c.run_id == "cohort:peak_rewards:dr-1")
            )
        ).scalar_one()
    assert subject["modification_number"] == 2


async def _send_inputs(env: WorkflowEnvironment, handle: Handle) -> list[CohortSendInput]:
    """The inputs of the SEND_COHORT_BATCH activities the run scheduled so far, as in its history."""
    history = await handle.fetch_history()
    inputs: list[CohortSendInput] = []
    for event in history.events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == SEND_COHORT_BATCH:
            decoded = await env.client.data_converter.decode(scheduled.input.payloads, [CohortSendInput])
            inputs.append(decoded[0])
    return inputs


async def test_a_partial_restoration_sends_over_its_own_members_range_without_the_grid_lists(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    await add_customers(engine, 20, transformers=2)
    trigger = subject_event("outage.detected", incident_id="inc-1", transformer_ids=["t-0", "t-1"])
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, OUTAGE, "inc-1", trigger, batch_size=2)
        await _waiting(handle, "await_restore", 20)
        # members 3 and 4 (customers sort as c-00000 ... c-00019) are back
        restored = subject_event("outage.restored", incident_id="inc-1", premise_ids=["p-c-3", "p-c-4"])
        await handle.signal(JOURNEY_EVENT_SIGNAL, restored)
        await _waiting(handle, "await_restore", 18)
        for _ in range(100):
            if sends.to("outage_restored") == ["c-00003", "c-00004"]:
                break
            await asyncio.sleep(0.1)
        inputs = await _send_inputs(env, handle)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-1"))
        assert (await handle.result()).status == "completed"
    assert len(sends.to("outage_restored")) == 20
    detected = [i for i in inputs if i.template == "outage_detected"]
    partial = [i for i in inputs if i.template == "outage_restored"]
    assert len(detected) == 10  # 20 members, 2 a batch
    assert [(i.batch.lo, i.batch.hi) for i in partial] == [(3, 5)]
    assert [i.subject for i in inputs if set(i.subject) & {"premise_ids", "transformer_ids"}] == []
    assert {i.subject["incident_id"] for i in inputs} == {"inc-1"}
