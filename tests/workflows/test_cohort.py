"""CohortWorkflow on the time-skipping server with real Postgres and the real cohort activities; the
send batch is the recording stand-in of tests/cohorts/support.py (see there why)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_members, cohort_runs
from gridjourney.workflows.cohort_contracts import (
    COHORT_STATE_QUERY,
    DR_PERFORMANCE_BATCH,
    CohortState,
)
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef
from tests.cohorts.support import (
    AT_MOST_HOURLY,
    BEFORE_START,
    DR_HEAD,
    DR_NOTICE,
    ETR_NOTICE,
    OUTAGE_HEAD,
    OUTAGE_STEPS,
    Handle,
    RecordingSends,
    add_customers,
    cohort_workers,
    dr_scheduled,
    start_cohort,
    subject_event,
    until_waiting,
)

DR_EVENT = (
    DR_HEAD
    + """  audience: {program: event.program, holdout: 0.1}
  updates: [dr.event_modified]
exit_on: [dr.event_cancelled]
steps:
"""
    + DR_NOTICE
    + BEFORE_START
    + """  - id: route
    branch:
      - when: "customer.heating == 'electric'"
        goto: gold_reminder
      - goto: reminder
  - id: gold_reminder
    send: {channels: [sms], template: dr_gold_reminder}
    next: end
  - id: reminder
    send: {channels: [sms], template: dr_reminder}
"""
)

OUTAGE = OUTAGE_HEAD + ETR_NOTICE + AT_MOST_HOURLY + "steps:\n" + OUTAGE_STEPS


async def _start(
    env: WorkflowEnvironment, yaml: str, key: str, trigger: EventRef, batch_size: int = 50
) -> Handle:
    return await start_cohort(env.client, yaml, key, trigger, batch_size=batch_size, concurrency=4)


async def _until(handle: Handle, waiting: dict[str, int]) -> None:
    await until_waiting(handle, waiting, running=True)


async def _where(engine: AsyncEngine, run_id: str) -> dict[str | None, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cohort_members.c.step_id, cohort_members.c.left_reason).where(
                cohort_members.c.run_id == run_id
            )
        )
        found: dict[str | None, int] = {}
        for row in rows:
            place = row.step_id or row.left_reason
            found[place] = found.get(place, 0) + 1
        return found


async def test_a_dr_cohort_is_notified_waits_for_the_modified_start_and_branches(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(
        engine, 300, program="ptr", attributes=lambda i: {"heating": "electric" if i % 3 == 0 else "gas"}
    )
    await add_customers(engine, 20, prefix="other")  # not enrolled: not in the audience
    now = await env.get_current_time()
    start, end = now + timedelta(days=1), now + timedelta(days=1, hours=3)
    trigger = subject_event(
        "dr.event_scheduled", dr_event_id="dr-1", program="ptr", start=start.isoformat(), end=end.isoformat()
    )
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, DR_EVENT, "dr-1", trigger)
        await _until(handle, {"before_start": 300})
        state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        # the holdout (a stable 10 % by run and customer) was sent nothing
        assert 15 <= state.holdout <= 45
        assert len(sends.to("dr_notice")) == 300 - state.holdout
        assert sends.duplicates == 0

        moved_start = start + timedelta(hours=5)
        modified = subject_event(
            "dr.event_modified",
            dr_event_id="dr-1",
            modification_number=1,
            start=moved_start.isoformat(),
            end=(moved_start + timedelta(hours=3)).isoformat(),
        )
        await handle.signal(JOURNEY_EVENT_SIGNAL, modified)
        final = await handle.result()

    assert final.status == "completed"
    treated = set(sends.to("dr_notice"))  # the holdout is sent nothing, reminders included
    gold = {c.customer_id for i, c in enumerate(customers) if i % 3 == 0}
    assert set(sends.to("dr_gold_reminder")) == treated & gold
    assert set(sends.to("dr_reminder")) == treated - gold
    reminders = [s.at for s in sends.sent if s.template != "dr_notice"]
    # the one timer was aimed again at the modified start: not at the first start - 1h
    assert min(reminders) >= moved_start - timedelta(hours=1)
    assert await _where(engine, "cohort:peak_rewards:dr-1") == {"completed": 300}
    async with engine.connect() as conn:
        run = (
            await conn.execute(select(cohort_runs).where(cohort_runs.c.run_id == "cohort:peak_rewards:dr-1"))
        ).one()
    assert (run.status, run.members, run.holdout) == ("completed", 300, state.holdout)
    assert run.subject["start"] == moved_start.isoformat()


async def test_a_cancelled_dr_event_lets_every_member_leave(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    await add_customers(engine, 120, program="ptr")
    now = await env.get_current_time()
    trigger = dr_scheduled("dr-2", now + timedelta(days=1))
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, DR_EVENT, "dr-2", trigger)
        await _until(handle, {"before_start": 120})
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("dr.event_cancelled", dr_event_id="dr-2"))
        final = await handle.result()

    assert (final.status, final.exit_reason) == ("exited", "dr.event_cancelled")
    assert sends.to("dr_reminder") == [] and sends.to("dr_gold_reminder") == []
    assert await _where(engine, "cohort:peak_rewards:dr-2") == {"dr.event_cancelled": 120}
    async with engine.connect() as conn:
        status = (await conn.execute(select(cohort_runs.c.status, cohort_runs.c.exit_reason))).one()
    assert tuple(status) == ("exited", "dr.event_cancelled")


async def test_an_outage_restored_in_part_then_in_whole_with_etr_notices(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 200, transformers=4)
    # t-0, t-1, t-2 are out; t-3 is not part of the incident
    out = [c for c in customers if c.transformer_id != "t-3"]
    now = await env.get_current_time()
    etr = now + timedelta(hours=4)
    trigger = subject_event(
        "outage.detected", incident_id="inc-1", transformer_ids=["t-0", "t-1", "t-2"], etr=etr.isoformat()
    )
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, OUTAGE, "inc-1", trigger)
        await _until(handle, {"await_restore": len(out)})
        assert sends.to("outage_detected") == sorted(c.customer_id for c in out)

        # t-0 is back: its members hear "restored", the others keep waiting
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event(
                "outage.restored", incident_id="inc-1", transformer_ids=["t-0"], restored_at=now.isoformat()
            ),
        )
        back = sorted(c.customer_id for c in out if c.transformer_id == "t-0")
        await _until(handle, {"await_restore": len(out) - len(back)})
        # an ETR moved by 10 minutes is no news; by 2 hours it is, once
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event(
                "outage.etr_updated", incident_id="inc-1", etr=(etr + timedelta(minutes=10)).isoformat()
            ),
        )
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event(
                "outage.etr_updated", incident_id="inc-1", etr=(etr + timedelta(hours=2)).isoformat()
            ),
        )
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event(
                "outage.etr_updated", incident_id="inc-1", etr=(etr + timedelta(hours=5)).isoformat()
            ),
        )  # within the hour of the last notice: not sent
        for _ in range(100):
            if sends.to("outage_etr"):
                break
            await asyncio.sleep(0.1)
        # the rest of the incident is restored
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event("outage.restored", incident_id="inc-1", restored_at=now.isoformat()),
        )
        final = await handle.result()

    assert final.status == "completed"
    still_out = sorted(c.customer_id for c in out if c.transformer_id != "t-0")
    assert sends.to("outage_etr") == still_out  # one notice, to those still waiting
    assert {s.step_id for s in sends.sent if s.template == "outage_etr"} == {"outage.etr_updated#1"}
    assert sends.to("outage_restored") == sorted(c.customer_id for c in out)
    assert sends.duplicates == 0
    assert await _where(engine, "cohort:outage_cohort:inc-1") == {"completed": len(out)}


async def test_a_batch_that_dies_half_way_resumes_without_sending_twice(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 100, transformers=1)
    trigger = subject_event("outage.detected", incident_id="inc-2", transformer_ids=["t-0"])
    sends = RecordingSends(engine, fail_after=20)  # the first batch dies after 20 of its 50
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, OUTAGE, "inc-2", trigger, batch_size=50)
        await _until(handle, {"await_restore": 100})
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event("outage.restored", incident_id="inc-2", restored_at="2026-01-01T00:00:00+00:00"),
        )
        await handle.result()

    assert sends.to("outage_detected") == sorted(c.customer_id for c in customers)
    assert sends.duplicates == 0  # the retry found only the 30 members not yet moved
    assert sends.calls == 2 + 1 + 2  # two batches of the notice, one of them twice; two of "restored"
    assert await _where(engine, "cohort:outage_cohort:inc-2") == {"completed": 100}


async def test_members_deferred_by_quiet_hours_are_sent_at_the_next_window(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    customers = await add_customers(engine, 60, transformers=1)
    now = await env.get_current_time()
    later = now + timedelta(hours=9)
    sends = RecordingSends(engine, defer={c.customer_id: later for c in customers[:10]})
    trigger = subject_event(
        "outage.detected", incident_id=f"inc-{uuid.uuid4().hex[:6]}", transformer_ids=["t-0"]
    )
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, OUTAGE, str(trigger.payload["incident_id"]), trigger)
        await _until(handle, {"detected": 10, "await_restore": 50})
        await handle.signal(
            JOURNEY_EVENT_SIGNAL,
            subject_event(
                "outage.restored", incident_id=trigger.payload["incident_id"], restored_at=now.isoformat()
            ),
        )
        await handle.result()

    deferred = {c.customer_id for c in customers[:10]}
    detected = [s for s in sends.sent if s.template == "outage_detected"]
    assert sorted(s.customer_id for s in detected) == sorted(c.customer_id for c in customers)
    assert all(s.at >= later for s in detected if s.customer_id in deferred)
    # the deferred members still reached the restoration, which had come while they waited
    assert sends.to("outage_restored") == sorted(c.customer_id for c in customers)


MEASURED = """
id: ptr_thanks
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {program: event.program}
steps:
  - id: measure
    dr_performance: {credit_per_kwh: 0.5, wait_for_reads: 3d}
  - id: thank_you
    send: {channels: [sms], template: dr_thank_you}
"""


async def test_members_without_reads_go_on_once_the_wait_for_reads_is_over(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """With helper F's DR_PERFORMANCE_BATCH (registered by worker.cohort_activities)."""
    env = time_skipping_env
    customers = await add_customers(engine, 30, program="ptr")
    now = await env.get_current_time()
    trigger = dr_scheduled("dr-m", now - timedelta(hours=3))
    sends = RecordingSends(engine)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await _start(env, MEASURED, "dr-m", trigger, batch_size=10)
        final = await handle.result()
        history = await handle.fetch_history()

    assert final.status == "completed"
    assert sends.to("dr_thank_you") == sorted(c.customer_id for c in customers)
    rounds = [
        e
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == DR_PERFORMANCE_BATCH
    ]
    # 3 batches a round: after 0, 1, 3, 7, 15, 27, 39, 51, 63 h and the give-up round at 72 h
    assert len(rounds) == 3 * 10
