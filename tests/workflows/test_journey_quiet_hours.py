"""JourneyWorkflow under quiet hours: a deferred send waits on a durable timer and is asked again.

Time-skipping test server. SEND_MESSAGE is the stand-in of tests/workflows/standins.py, registered on a
real send worker: it answers `deferred` while the server's clock is before `quiet_until`, then checks
the customer's consent again, as the real activity (activities/send.py) does.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, JourneyInput
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.helpers import finish, start, waiting_at
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, compiled, event

DAYTIME_ALERT = """
id: daytime_alert
purpose: informational
trigger: {event: bill.projection_updated}
exit_on: [bill.issued]
steps:
  - id: alert
    send: {channels: [sms, email], template: high_bill_alert, sending_hours: "09:00-18:00"}
  - id: pause
    wait: 1d
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


async def test_a_deferred_send_waits_for_the_next_allowed_minute(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    quiet_until = await env.get_current_time() + timedelta(hours=11)
    standins.quiet_until = quiet_until
    handle = await start(env, compiled(DAYTIME_ALERT))
    waiting = await waiting_at(handle, "alert")
    assert waiting.waiting_until == quiet_until and standins.sends == []

    final = await finish(env, handle)
    assert final.status == "completed"
    first, again, tips = standins.send_requests
    # the step's own window goes with every request; the same key is asked again after the timer
    assert first.sending_hours == again.sending_hours == ["09:00-18:00"] and tips.sending_hours is None
    assert first.can_defer and again.can_defer
    assert first.idempotency_key == again.idempotency_key != tips.idempotency_key
    assert standins.sent_templates() == ["high_bill_alert", "saving_tips"]
    assert ("alert", "sent:sms") in standins.steps()
    assert quiet_until <= standins.step_time("alert") < quiet_until + timedelta(minutes=1)


async def test_consent_revoked_during_the_wait_is_checked_again(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.quiet_until = await env.get_current_time() + timedelta(hours=8)
    handle = await start(env, compiled(DAYTIME_ALERT))
    await waiting_at(handle, "alert")
    standins.revoked.add("c-1")  # a STOP reply during the night

    final = await finish(env, handle)
    assert final.status == "completed"
    assert standins.sends == []
    assert standins.steps()[0] == ("alert", "suppressed:sms: consent_revoked")
    assert len(standins.send_requests) == 3  # deferred, suppressed, and the tips step


async def test_an_exit_event_during_the_deferral_ends_the_journey_unsent(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.quiet_until = await env.get_current_time() + timedelta(hours=8)
    handle = await start(env, compiled(DAYTIME_ALERT))
    await waiting_at(handle, "alert")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("bill.issued", "c-1", amount=120.0))

    final = await finish(env, handle)
    assert (final.status, final.exit_reason) == ("exited", "bill.issued")
    assert standins.sends == [] and len(standins.send_requests) == 1
    assert standins.steps() == []
    assert standins.of_type("journey.exited")[0].payload["reason"] == "bill.issued"


async def test_a_send_given_up_is_recorded_and_the_journey_goes_on(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.send_error = "twilio: 21211 invalid 'To' number"
    final = await finish(env, await start(env, compiled(DAYTIME_ALERT)))
    assert final.status == "completed"
    alert, tips = standins.given_up
    assert alert.request.step_id == "alert" and tips.request.step_id == "tips"
    assert alert.request.sending_hours == ["09:00-18:00"]
    assert "21211 invalid 'To' number" in alert.reason
    assert [step for step, _ in standins.steps()] == ["alert", "pause", "tips"]
    # the step's outcome, in the log's journey.step_completed, names no provider words (nor address)
    assert standins.steps()[0][1] == "failed:given_up"


async def test_a_deferral_to_a_moment_already_past_waits_a_minute(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    # The activity names a moment the workflow's clock has passed: waiting "until" it would ask again
    # at once, round after round.
    now = await env.get_current_time()
    standins.quiet_until, standins.defer_to = now + timedelta(seconds=30), now - timedelta(hours=1)
    handle = await start(env, compiled(DAYTIME_ALERT))
    await finish(env, handle)
    entered = standins.of_type("journey.entered")[0].occurred_at
    assert len([r for r in standins.send_requests if r.step_id == "alert"]) == 2
    assert standins.step_time("alert") - entered >= timedelta(minutes=1)


async def test_a_run_continued_as_new_while_deferred_waits_out_the_rest(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    quiet_until = await env.get_current_time() + timedelta(hours=9)
    standins.quiet_until = quiet_until
    request = JourneyInput(
        journey=compiled(DAYTIME_ALERT),
        customer_id="c-1",
        trigger=event("bill.projection_updated", "c-1"),
        send_task_queue=SEND_TASK_QUEUE,
        history_budget=50,  # the smallest allowed: the events below push the run past it mid-wait
    )
    handle = await env.client.start_workflow(
        JourneyWorkflow.run, request, id="deferred-can", task_queue=TASK_QUEUE
    )
    await waiting_at(handle, "alert")
    for _ in range(12):
        await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=1.0, period_days=1))
    final = await handle.result()  # this handle lets the server skip time

    first_run = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    last = (await first_run.fetch_history()).events[-1]
    assert last.HasField("workflow_execution_continued_as_new_event_attributes")
    assert final.status == "completed"
    # the next run waited for the rest of the night instead of asking again at once
    alert = [r for r in standins.send_requests if r.step_id == "alert"]
    assert len(alert) == 2 and standins.sent_templates() == ["high_bill_alert", "saving_tips"]
    assert quiet_until <= standins.step_time("alert") < quiet_until + timedelta(minutes=1)
