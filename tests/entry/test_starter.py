"""start_journey against real Temporal servers: Temporal's id policies refuse a redelivered trigger.

The journeys started here use in-memory activity stand-ins (tests/workflows/standins.py) to isolate
the entry logic; the real activities, which need Postgres and the SMS stand-in, are covered by the
integration tests.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.plan import entry_plan
from gridjourney.entry.starter import start_journey
from gridjourney.workflows.contracts import EventRef
from tests.entry.builders import journey, trigger
from tests.workflows.helpers import finish
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, running_workers


async def _start(env: WorkflowEnvironment, compiled_journey: CompiledJourney, event: EventRef) -> bool:
    result = await start_journey(
        env.client, compiled_journey, "c-1", event, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE
    )
    return result.started


@pytest.mark.parametrize(
    "entry", ["{reentry: once}", "{reentry: once_per_window, window: 30d}", "{reentry: every_trigger}"]
)
async def test_a_redelivered_trigger_starts_nothing(env: WorkflowEnvironment, entry: str) -> None:
    rule = journey(entry)
    assert await _start(env, rule, trigger())
    assert not await _start(env, rule, trigger())  # while the first runs
    await finish(env, env.client.get_workflow_handle(entry_plan(rule, "c-1", trigger()).workflow_id))
    assert not await _start(env, rule, trigger())  # after it finished


async def test_after_exit_reenters_on_a_new_trigger_only(env: WorkflowEnvironment) -> None:
    rule = journey("{reentry: after_exit}")
    handle = env.client.get_workflow_handle(entry_plan(rule, "c-1", trigger()).workflow_id)
    assert await _start(env, rule, trigger("e-1", position=10))
    assert not await _start(env, rule, trigger("e-2", position=11))  # the first still runs
    await finish(env, handle)
    assert not await _start(env, rule, trigger("e-1", position=10))  # redelivered
    assert not await _start(env, rule, trigger("e-0", position=9))  # an older event, redelivered
    assert await _start(env, rule, trigger("e-3", position=12))
    await finish(env, handle)


async def test_once_and_every_trigger_on_the_dev_server(temporal_dev_env: WorkflowEnvironment) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    for entry in ("{reentry: once}", "{reentry: every_trigger}"):
        rule = journey(entry)
        event = trigger(f"e-{uuid.uuid4()}").model_copy(update={"customer_id": customer})
        results = [
            await start_journey(
                temporal_dev_env.client,
                rule,
                customer,
                event,
                task_queue=TASK_QUEUE,
                send_task_queue=SEND_TASK_QUEUE,
            )
            for _ in range(2)
        ]
        first, second = results
        assert first.started and not second.started and first.workflow_id == second.workflow_id
        # no worker serves this queue here: the instance would wait forever
        await temporal_dev_env.client.get_workflow_handle(first.workflow_id).terminate("test done")


async def test_a_worker_of_the_same_client_takes_the_first_task_eagerly(
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    """The router beside its workers (`gridjourney run`): the start's answer carries the first
    workflow task, which saves the trip through the task queue on the way to the SMS."""
    rule = journey("{reentry: once}")
    event = trigger(f"e-{uuid.uuid4()}", customer_id=f"c-{uuid.uuid4().hex[:8]}")
    async with running_workers(temporal_dev_env.client, StandIns()):
        result = await start_journey(
            temporal_dev_env.client,
            rule,
            event.customer_id or "",
            event,
            task_queue=TASK_QUEUE,
            send_task_queue=SEND_TASK_QUEUE,
        )
        handle = temporal_dev_env.client.get_workflow_handle(result.workflow_id)
        await handle.result()
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert result.started and started.eager_execution_accepted
