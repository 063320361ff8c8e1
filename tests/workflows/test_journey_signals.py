"""JourneyWorkflow and the events signalled to it: wait_for, goal, exit_on, duplicates, cancellation.

Time-skipping test server; the activities are in-memory stand-ins registered under the real names
(tests/workflows/standins.py), which isolates the interpreter. The real activities, which need
Postgres and the SMS stand-in, are covered by the integration tests.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.workflows.helpers import finish, start, state, waiting_at
from tests.workflows.standins import StandIns, compiled, event

RESTORATION = """
id: restoration
purpose: safety
trigger: {event: outage.detected}
steps:
  - id: notice
    send: {channels: [sms], template: outage_detected}
  - id: await_restoration
    wait_for:
      event: outage.restored
      when: "event.incident_id == trigger.incident_id"
      timeout: 4h
      on_event: restored
      on_timeout: still_out
  - id: still_out
    send: {channels: [sms], template: still_out}
    next: end
  - id: restored
    send: {channels: [sms], template: restored}
"""

HIGH_BILL = """
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
exit_on: [bill.issued]
goal: {event: usage.reduced, when: "event.kwh_saved > 10", within: 14d}
steps:
  - id: alert
    send: {channels: [sms], template: high_bill_alert}
  - id: pause
    wait: 3d
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


async def test_wait_for_times_out(env: WorkflowEnvironment, standins: StandIns) -> None:
    final = await finish(env, await start(env, compiled(RESTORATION)))
    assert final.status == "completed"
    assert standins.steps() == [
        ("notice", "sent:sms"),
        ("await_restoration", "timeout"),
        ("still_out", "sent:sms"),
    ]
    assert standins.step_time("await_restoration") - standins.step_time("notice") >= timedelta(hours=4)


async def test_an_event_just_before_the_timeout_wins(env: WorkflowEnvironment, standins: StandIns) -> None:
    handle = await start(env, compiled(RESTORATION))
    waiting = await waiting_at(handle, "await_restoration")
    assert waiting.waiting_for == "outage.restored" and waiting.waiting_until is not None
    await env.sleep(waiting.waiting_until - await env.get_current_time() - timedelta(seconds=1))

    restored_at = (await env.get_current_time()).isoformat()
    other_incident = event("outage.restored", "c-1", incident_id="inc-2", restored_at=restored_at)
    await handle.signal(JOURNEY_EVENT_SIGNAL, other_incident)  # its `when` is false: ignored
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("outage.restored", "c-1", incident_id="inc-1"))
    await finish(env, handle)

    assert [step for step, _ in standins.steps()] == ["notice", "await_restoration", "restored"]
    assert standins.steps()[1] == ("await_restoration", "event")
    assert standins.step_time("await_restoration") < waiting.waiting_until


async def test_goal_event_converts_and_the_steps_go_on(env: WorkflowEnvironment, standins: StandIns) -> None:
    handle = await start(env, compiled(HIGH_BILL))
    await waiting_at(handle, "pause")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=2.0, period_days=7))
    goal = event("usage.reduced", "c-1", kwh_saved=40.0, period_days=7)
    await handle.signal(JOURNEY_EVENT_SIGNAL, goal)
    final = await finish(env, handle)

    assert final.status == "converted" and final.converted
    [converted] = standins.of_type("journey.converted")
    assert converted.payload["goal_event_id"] == goal.event_id  # the small saving did not count
    assert standins.sent_templates() == ["high_bill_alert", "saving_tips"]


async def test_after_the_steps_the_run_observes_the_goal_window(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    one_step = HIGH_BILL.split("  - id: pause")[0]
    handle = await start(env, compiled(one_step))
    observing = await waiting_at(handle, None)
    assert observing.status == "active" and observing.waiting_for == "usage.reduced"
    assert observing.entered_at is not None
    assert observing.waiting_until == observing.entered_at + timedelta(days=14)
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=12.0, period_days=7))
    assert (await finish(env, handle)).status == "converted"

    unconverted = await finish(env, await start(env, compiled(one_step), customer_id="c-2"))
    assert unconverted.status == "completed" and not unconverted.converted


async def test_exit_event_stops_the_run_mid_wait(env: WorkflowEnvironment, standins: StandIns) -> None:
    handle = await start(env, compiled(HIGH_BILL))
    await waiting_at(handle, "pause")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("bill.issued", "c-1", amount=180.0))
    final = await finish(env, handle)

    assert final.status == "exited" and final.exit_reason == "bill.issued"
    assert standins.sent_templates() == ["high_bill_alert"]
    assert standins.steps() == [("alert", "sent:sms")]
    [exited] = standins.of_type("journey.exited")
    assert exited.payload["reason"] == "bill.issued"
    assert exited.occurred_at - standins.step_time("alert") < timedelta(days=3)


async def test_duplicate_signals_are_ignored(env: WorkflowEnvironment, standins: StandIns) -> None:
    journey = compiled(
        """
id: twice
purpose: informational
trigger: {event: customer.created}
steps:
  - id: first
    wait_for: {event: consent.changed, timeout: 1d}
  - id: second
    wait_for: {event: consent.changed, timeout: 1d}
"""
    )
    handle = await start(env, journey)
    await waiting_at(handle, "first")
    consent = event("consent.changed", "c-1", channel="sms", purpose="marketing", granted=True)
    await handle.signal(JOURNEY_EVENT_SIGNAL, consent)
    await handle.signal(JOURNEY_EVENT_SIGNAL, consent)  # the router redelivered it
    await finish(env, handle)
    # had the copy been queued, the second wait would have taken it
    assert standins.steps() == [("first", "event"), ("second", "timeout")]


async def test_cancellation_records_the_exit(env: WorkflowEnvironment, standins: StandIns) -> None:
    handle = await start(env, compiled(HIGH_BILL))
    await waiting_at(handle, "pause")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await finish(env, handle)
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    [exited] = standins.of_type("journey.exited")
    assert exited.payload["reason"] == "cancelled"
    assert standins.sent_templates() == ["high_bill_alert"]


async def test_state_query_answers_after_the_run(env: WorkflowEnvironment) -> None:
    handle = await start(env, compiled(RESTORATION))
    await finish(env, handle)
    final = await state(handle)
    assert final.status == "completed" and final.current_step is None
    assert [step.step_id for step in final.steps_taken] == ["notice", "await_restoration", "still_out"]


async def test_an_event_arriving_before_its_wait_for_is_kept_for_it(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    # Power comes back while the outage notice is still being sent: the wait for restoration that
    # follows must see it, not time out four hours later.
    handle = await start(env, compiled(RESTORATION))
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("outage.restored", "c-1", incident_id="inc-1"))
    final = await finish(env, handle)
    assert final.status == "completed"
    assert standins.steps() == [
        ("notice", "sent:sms"),
        ("await_restoration", "event"),
        ("restored", "sent:sms"),
    ]
