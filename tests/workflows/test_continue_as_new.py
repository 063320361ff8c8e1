"""Continue-as-new: a run hands its state, queued events and seen ids to the next run.

Time-skipping test server; the activities are in-memory stand-ins registered under the real names
(tests/workflows/standins.py), which isolates the interpreter. The real activities, which need
Postgres and the SMS stand-in, are covered by the integration tests. A small `history_budget`
forces continue-as-new after a few steps.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef, JourneyInput, JourneyState
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.helpers import waiting_at
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, compiled, event

BUDGET = 50  # the smallest allowed: continue-as-new every few steps


def _long_journey(steps: int) -> CompiledJourney:
    body = "".join(
        f"  - id: send_{n}\n    send: {{channels: [sms], template: t{n}}}\n  - id: wait_{n}\n    wait: 1h\n"
        for n in range(steps)
    )
    return compiled(
        "id: long\npurpose: marketing\ntrigger: {event: customer.created}\n"
        "goal: {event: usage.reduced, within: 30d}\nsteps:\n" + body
    )


async def _start(
    env: WorkflowEnvironment, journey: CompiledJourney
) -> WorkflowHandle[JourneyWorkflow, JourneyState]:
    trigger = event("customer.created", "c-1")
    request = JourneyInput(
        journey=journey,
        customer_id="c-1",
        trigger=trigger,
        send_task_queue=SEND_TASK_QUEUE,
        history_budget=BUDGET,
    )
    return await env.client.start_workflow(JourneyWorkflow.run, request, id="can-test", task_queue=TASK_QUEUE)


async def _runs(env: WorkflowEnvironment, workflow_id: str, first_run_id: str) -> int:
    """How many runs the chain from `first_run_id` has."""
    count, run_id = 1, first_run_id
    while True:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return count
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        count += 1


async def test_state_survives_continue_as_new(env: WorkflowEnvironment, standins: StandIns) -> None:
    journey = _long_journey(8)
    handle = await _start(env, journey)
    await waiting_at(handle, "wait_0")  # converted in the first run
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=5.0, period_days=7))
    final = await handle.result()  # this handle lets the server skip time

    assert handle.result_run_id is not None
    assert await _runs(env, handle.id, handle.result_run_id) >= 3
    expected = [step.id for step in journey.definition.steps]
    assert [step for step, _ in standins.steps()] == expected  # each step exactly once, in order
    assert [step.step_id for step in final.steps_taken] == expected
    assert final.status == "converted" and final.converted and len(standins.of_type("journey.converted")) == 1
    assert len(standins.of_type("journey.entered")) == 1
    assert len({send.idempotency_key for send in standins.sends}) == len(standins.sends) == 8
    assert final.journey_event_seq == len(standins.records)  # ids kept counting across runs
    assert final.entered_at == standins.of_type("journey.entered")[0].occurred_at


async def test_continue_as_new_mid_wait_keeps_the_deadline_and_seen_ids(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    journey = compiled(
        """
id: patient
purpose: informational
trigger: {event: customer.created}
steps:
  - id: await_consent
    wait_for: {event: consent.changed, timeout: 1d}
"""
    )
    handle = await _start(env, journey)
    before = await waiting_at(handle, "await_consent")
    noise = [event("meter.anomaly_detected", "c-1", anomaly_type="spike", score=0.9) for _ in range(40)]
    for item in noise:  # events no step listens to still grow the history
        await handle.signal(JOURNEY_EVENT_SIGNAL, item)
    assert handle.result_run_id is not None
    while (await handle.describe()).run_id == handle.result_run_id:
        await asyncio.sleep(0.05)
    after = await waiting_at(handle, "await_consent")
    assert after.waiting_until == before.waiting_until

    # a redelivery, under an id seen by the first run: still a duplicate in the new run
    repeat = EventRef.model_validate(
        {
            **event("consent.changed", "c-1", channel="sms", purpose="marketing", granted=True).model_dump(),
            "event_id": noise[0].event_id,
        }
    )
    await handle.signal(JOURNEY_EVENT_SIGNAL, repeat)
    await handle.result()

    assert standins.steps() == [("await_consent", "timeout")]
    assert before.waiting_until is not None and before.entered_at is not None
    assert standins.step_time("await_consent") - before.entered_at < timedelta(days=1, minutes=1)
