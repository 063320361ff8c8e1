"""JourneyWorkflow calls one activity per step for a plain journey (patch
`journey-context-and-exit-in-steps-1`): the entry's context rides on the first send, the last step's
completion and the exit on the last; what the log records is what it recorded before.

In the time-skipping test server with the in-memory stand-ins of tests/workflows/standins.py, which
do what the real SEND_MESSAGE does with `with_context` and `recorded_after`
(tests/activities/test_send_carried.py checks the real one).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import (
    LOAD_CONTEXT,
    RECORD_JOURNEY_EVENTS,
    SEND_MESSAGE,
    UPDATE_CUSTOMER,
    CustomerContext,
    JourneyState,
)
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.helpers import finish, start
from tests.workflows.standins import StandIns, compiled

Handle = WorkflowHandle[JourneyWorkflow, JourneyState]

THREE_STEPS = """
id: three_steps
purpose: informational
trigger: {event: customer.created}
steps:
  - id: sms
    send: {channels: [sms], template: welcome}
  - id: touch
    update: {attribute: touched, value: true}
  - id: email
    send: {channels: [email], template: welcome}
"""

ONE_SEND = """
id: one_send
purpose: informational
trigger: {event: customer.created}
steps:
  - id: hello
    send: {channels: [sms], template: welcome}
"""

WITH_GOAL = """
id: with_goal
purpose: informational
trigger: {event: customer.created}
goal: {event: usage.reduced, within: 2d}
steps:
  - id: sms
    send: {channels: [sms], template: welcome}
"""

BRANCH_FIRST = """
id: branch_first
purpose: informational
trigger: {event: customer.created}
steps:
  - id: which
    branch:
      - when: customer.locale == "es"
        goto: hola
      - goto: hello
  - id: hello
    send: {channels: [sms], template: welcome}
  - id: hola
    send: {channels: [sms], template: welcome}
"""


async def run(env: WorkflowEnvironment, journey_yaml: str) -> tuple[Handle, JourneyState]:
    """The journey started for the stand-ins' customer and run to its end: (its handle, its last state)."""
    handle = await start(env, compiled(journey_yaml))
    return handle, await finish(env, handle)


async def activities(handle: Handle) -> list[str]:
    history = await handle.fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_plain_journey_calls_one_activity_per_step(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    handle, final = await run(env, THREE_STEPS)

    assert final.status == "completed"
    assert await activities(handle) == [SEND_MESSAGE, UPDATE_CUSTOMER, SEND_MESSAGE]
    # the first send loaded the context (once), the last recorded the end
    first, last = standins.send_requests
    assert first.with_context is not None and first.with_context.customer_id == "c-1"
    assert last.with_context is None and first.recorded_after == []
    assert standins.context_loads == 1
    assert [(r.type, r.payload.get("step_id"), r.payload.get("outcome")) for r in standins.records] == [
        ("journey.entered", None, None),
        ("journey.step_completed", "sms", "sent:sms"),
        ("journey.step_completed", "touch", "updated"),
        ("journey.step_completed", "email", "sent:email"),
        ("journey.exited", None, None),
    ]
    exited = standins.of_type("journey.exited")[0]
    assert exited.payload["reason"] == "completed"
    assert standins.of_type("journey.step_completed")[-1].payload["next_step"] is None
    assert len({record.event_id for record in standins.records}) == 5
    assert [step.outcome for step in final.steps_taken] == ["sent:sms", "updated", "sent:email"]


async def test_an_unknown_customer_exits_at_the_first_send_without_a_message(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.customers["c-1"] = CustomerContext(customer_id="c-1", exists=False)
    handle, final = await run(env, THREE_STEPS)

    assert (final.status, final.exit_reason) == ("exited", "unknown_customer")
    assert final.steps_taken == []
    assert standins.sends == [] and standins.updates == []
    assert [(r.type, r.payload.get("reason")) for r in standins.records] == [
        ("journey.entered", None),
        ("journey.exited", "unknown_customer"),
    ]
    assert await activities(handle) == [SEND_MESSAGE, RECORD_JOURNEY_EVENTS]


async def test_a_goal_still_open_after_the_last_send_is_observed_before_the_exit(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    handle, final = await run(env, WITH_GOAL)

    assert final.status == "completed"
    [send] = standins.send_requests
    assert send.with_context is not None and send.recorded_after == []
    # the step's completion before the goal's wait, the exit at its end
    assert await activities(handle) == [SEND_MESSAGE, RECORD_JOURNEY_EVENTS, RECORD_JOURNEY_EVENTS]
    assert [r.type for r in standins.records][-2:] == ["journey.step_completed", "journey.exited"]


async def test_a_journey_that_reads_the_customer_first_loads_it_at_entry(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.customers["c-1"] = CustomerContext(customer_id="c-1", locale="es")
    handle, _ = await run(env, BRANCH_FIRST)

    assert await activities(handle) == [LOAD_CONTEXT, SEND_MESSAGE]
    assert [send.step_id for send in standins.sends] == ["hola"]
    [send] = standins.send_requests
    assert send.with_context is None and len(send.recorded_after) == 2


async def test_a_last_send_deferred_overnight_records_the_end_when_it_goes(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    standins.quiet_until = await env.get_current_time() + timedelta(hours=10)
    handle, final = await run(env, ONE_SEND)

    assert final.status == "completed"
    deferred, sent = standins.send_requests
    assert [event.event_id for event in deferred.recorded_after] == [
        event.event_id for event in sent.recorded_after
    ]
    assert [(r.type, r.payload.get("outcome")) for r in standins.records] == [
        ("journey.entered", None),
        ("journey.step_completed", "sent:sms"),
        ("journey.exited", None),
    ]
    assert standins.of_type("journey.exited")[0].occurred_at >= standins.quiet_until
    assert await activities(handle) == [SEND_MESSAGE, SEND_MESSAGE]


async def test_a_last_update_records_the_end_after_its_own_event(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    two_steps = THREE_STEPS.replace("  - id: email\n    send: {channels: [email], template: welcome}\n", "")
    handle, final = await run(env, two_steps)

    assert final.status == "completed"
    assert await activities(handle) == [SEND_MESSAGE, UPDATE_CUSTOMER]
    [update] = standins.updates
    assert [(r.type, r.payload.get("outcome")) for r in update.recorded_after] == [
        ("journey.step_completed", "updated"),
        ("journey.exited", None),
    ]
    # the ids the run would have given them itself: the update's own event first
    ids = [update.event_id, *(r.event_id for r in standins.records)]
    assert len(set(ids)) == len(ids) == 5
    assert [r.type for r in standins.records][-2:] == ["journey.step_completed", "journey.exited"]
