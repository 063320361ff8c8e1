"""Starting a journey in the test environment the way the router does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.starter import start_journey
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, EventRef, JourneyState
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, event


async def start(
    env: WorkflowEnvironment,
    journey: CompiledJourney,
    customer_id: str = "c-1",
    trigger: EventRef | None = None,
) -> WorkflowHandle[JourneyWorkflow, JourneyState]:
    trigger = trigger or event(journey.definition.trigger[0].event, customer_id, **_payload(journey))
    result = await start_journey(
        env.client, journey, customer_id, trigger, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE
    )
    assert result.started
    return env.client.get_workflow_handle_for(JourneyWorkflow.run, result.workflow_id)


async def state(handle: WorkflowHandle[JourneyWorkflow, JourneyState]) -> JourneyState:
    result: JourneyState = await handle.query(JOURNEY_STATE_QUERY, result_type=JourneyState)
    return result


def _payload(journey: CompiledJourney) -> dict[str, Any]:
    # trigger payloads the test journeys' conditions read
    return {"incident_id": "inc-1"} if journey.definition.trigger[0].event == "outage.detected" else {}


async def waiting_at(
    handle: WorkflowHandle[JourneyWorkflow, JourneyState], step_id: str | None
) -> JourneyState:
    """The state once the run waits at `step_id` (None: for the goal, after the steps).

    Polled in real time: queries do not skip time."""
    for _ in range(400):
        current = await state(handle)
        if current.current_step == step_id and current.waiting_until is not None:
            return current
        await asyncio.sleep(0.025)
    raise AssertionError(f"the run never waited at {step_id!r}; state: {current}")


async def finish(
    env: WorkflowEnvironment, handle: WorkflowHandle[JourneyWorkflow, JourneyState]
) -> JourneyState:
    """The run's result, letting the server skip time meanwhile.

    For handles made with get_workflow_handle (start_journey returns no handle). A handle from the
    test environment's own start_workflow unlocks time itself: unlocking twice breaks the clock."""
    await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    try:
        return await handle.result()
    finally:
        await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())


async def skip_to(
    env: WorkflowEnvironment, handle: WorkflowHandle[JourneyWorkflow, JourneyState], step_id: str
) -> JourneyState:
    """Advance the test server's clock through earlier waits until the run waits at `step_id`."""
    for _ in range(400):
        current = await state(handle)
        if current.current_step == step_id and current.waiting_until is not None:
            return current
        if current.waiting_until is not None:
            await env.sleep(max(current.waiting_until - await env.get_current_time(), timedelta(seconds=1)))
        else:
            await asyncio.sleep(0.025)
    raise AssertionError(f"the run never waited at {step_id!r}; state: {current}")
