"""A DR cohort tells the members it has notified when the event moves or is cancelled (`on_update`,
with `changed` and on an exit type), on the time-skipping server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortState
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.cohorts.support import (
    DR_HEAD,
    DR_STEPS,
    PROGRAM_AUDIENCE,
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
    + PROGRAM_AUDIENCE
    + """  on_update:
    - event: dr.event_modified
      send: {channels: [sms], template: dr_event_moved}
      at_steps: [before_start]
      changed: [start, end]
    - event: dr.event_cancelled
      send: {channels: [sms], template: dr_event_cancelled}
      at_steps: [before_start]
exit_on: [dr.event_cancelled]
steps:
"""
    + DR_STEPS
)
# How long a wait in real time may take before the test fails: a run these tests finish in about a
# second took 5-13 s with three CPU hogs beside it, and CI runs them beside a whole suite; the helpers'
# default of 300 polls (about 30 s) was within reach of that.
WAIT_SECONDS = 120.0
POLL = 0.1


async def test_notified_members_hear_of_the_move_and_of_the_cancellation_once(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    ids = [c.customer_id for c in await add_customers(engine, 10, program="ptr")]
    now = await env.get_current_time()
    start = now + timedelta(days=1)
    trigger = dr_scheduled("dr-m", start)
    sends = RecordingSends(engine)
    late = ids[-1]
    sends.defer[late] = now + timedelta(hours=3)  # quiet hours: not told of the event yet
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, DR_EVENT, "dr-m", trigger)
        await until_waiting(handle, {"before_start": 9, "notice": 1}, interval=WAIT_SECONDS / 300)
        moved = start + timedelta(hours=4)
        modified = subject_event(
            "dr.event_modified",
            dr_event_id="dr-m",
            modification_number=1,
            start=moved.isoformat(),
            end=(moved + timedelta(hours=2)).isoformat(),
        )
        await handle.signal(JOURNEY_EVENT_SIGNAL, modified)
        await sends.until_sent("dr_event_moved", 9, tries=round(WAIT_SECONDS / POLL))
        # a modification that moves nothing (the same times, written another way) tells nobody
        same = subject_event(
            "dr.event_modified",
            dr_event_id="dr-m",
            modification_number=2,
            start=moved.astimezone(timezone(timedelta(hours=-7))).isoformat(),
            end=(moved + timedelta(hours=2)).isoformat(),
        )
        await handle.signal(JOURNEY_EVENT_SIGNAL, same)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("dr.event_cancelled", dr_event_id="dr-m"))
        final = await bounded_result(handle)
    assert (final.status, final.exit_reason) == ("exited", "dr.event_cancelled")
    notified = sorted(set(ids) - {late})
    assert sends.to("dr_notice") == notified
    assert Counter(s.customer_id for s in sends.sent if s.template == "dr_event_moved") == Counter(notified)
    assert sends.to("dr_event_cancelled") == notified
    assert sends.to("dr_reminder") == []
    assert sends.duplicates == 0


async def test_a_cancellation_before_anyone_was_told_sends_no_cancel_notice(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    ids = [c.customer_id for c in await add_customers(engine, 4, program="ptr")]
    now = await env.get_current_time()
    start = now + timedelta(days=1)
    trigger = dr_scheduled("dr-c", start)
    sends = RecordingSends(engine)
    for customer in ids:
        sends.defer[customer] = now + timedelta(hours=3)
    async with cohort_workers(env.client, engine, sends, tmp_path):
        handle = await start_cohort(env.client, DR_EVENT, "dr-c", trigger)
        await until_waiting(handle, {"notice": 4}, interval=WAIT_SECONDS / 300)
        # Cancelled once the deferring batch has answered: "before anyone was told" is after the notice
        # was held back. (Cancelling the batch activity itself in flight is not what this checks, and
        # the time-skipping server can lose a cancellation of an activity not yet started.)
        await until_counted(handle, "deferred", 4)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("dr.event_cancelled", dr_event_id="dr-c"))
        final = await bounded_result(handle)
    assert final.status == "exited"
    assert sends.sent == []


async def bounded_result(
    handle: WorkflowHandle[Any, CohortState], seconds: float = WAIT_SECONDS
) -> CohortState:
    """The run's result within `seconds` (it once hung 10 minutes under -n 2); past it, the test fails
    with what the run waits for: its pending activities and the last events of its history."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=seconds)
    except TimeoutError:
        described = await handle.describe()
        pending = [
            (a.activity_type.name, a.state, a.attempt) for a in described.raw_description.pending_activities
        ]
        events = [event.event_type for event in (await handle.fetch_history()).events][-15:]
        raise AssertionError(
            f"no result after {seconds} s: status {described.status}, pending activities {pending}, "
            f"last history events {events}"
        ) from None


async def until_counted(handle: WorkflowHandle[Any, Any], outcome: str, count: int) -> None:
    """Poll (in real time) until the run's batches have reported `count` members with `outcome`, for
    up to WAIT_SECONDS (a deadline, not a number of polls: each query takes longer on a busy machine)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        if state.counts.get(outcome, 0) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the run's batches never reported {count} {outcome}: {state.counts}")
        await asyncio.sleep(POLL)
