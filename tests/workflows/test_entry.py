"""Re-entry rules as workflow ids and id policies, and start_journey against real Temporal servers.

The journeys started here use in-memory activity stand-ins (tests/workflows/standins.py) to isolate
the entry logic; the real activities, which need Postgres and the SMS stand-in, are covered by the
integration tests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.entry import entry_plan, start_journey
from tests.workflows.helpers import finish
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, compiled

REJECT = WorkflowIDReusePolicy.REJECT_DUPLICATE
FAIL = WorkflowIDConflictPolicy.FAIL
T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


def journey(entry: str) -> CompiledJourney:
    return compiled(
        f"""
id: bill_alert
purpose: informational
trigger: {{event: bill.projection_updated}}
entry: {entry}
steps:
  - id: alert
    send: {{channels: [sms], template: high_bill_alert}}
"""
    )


def trigger(event_id: str = "e-1", occurred_at: datetime = T0, position: int = 10) -> EventRef:
    return EventRef(
        event_id=event_id,
        type="bill.projection_updated",
        customer_id="c-1",
        occurred_at=occurred_at,
        payload={"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 12},
        position=position,
    )


def test_once() -> None:
    plan = entry_plan(journey("{reentry: once}"), "c-1", trigger())
    assert (plan.workflow_id, plan.id_reuse_policy, plan.id_conflict_policy) == (
        "journey:bill_alert:c-1",
        REJECT,
        FAIL,
    )
    assert entry_plan(journey("{reentry: once}"), "c-1", trigger("e-2")) == plan


def test_after_exit() -> None:
    plan = entry_plan(journey("{reentry: after_exit}"), "c-1", trigger())
    assert plan.workflow_id == "journey:bill_alert:c-1"
    assert plan.id_reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE
    assert plan.id_conflict_policy == FAIL  # never a second instance while one runs


def test_once_per_window() -> None:
    window = journey("{reentry: once_per_window, window: 30d}")
    plan = entry_plan(window, "c-1", trigger())
    bucket = int(T0.timestamp() // timedelta(days=30).total_seconds())
    assert plan.workflow_id == f"journey:bill_alert:c-1:w{bucket}"
    assert (plan.id_reuse_policy, plan.id_conflict_policy) == (REJECT, FAIL)
    bucket_start = datetime.fromtimestamp(bucket * 30 * 86400, UTC)
    same = entry_plan(window, "c-1", trigger("e-2", bucket_start + timedelta(days=29, hours=23)))
    following = entry_plan(window, "c-1", trigger("e-3", bucket_start + timedelta(days=30)))
    assert same.workflow_id == plan.workflow_id
    assert following.workflow_id == f"journey:bill_alert:c-1:w{bucket + 1}"


def test_every_trigger() -> None:
    plan = entry_plan(journey("{reentry: every_trigger}"), "c-1", trigger("e-9"))
    assert plan.workflow_id == "journey:bill_alert:c-1:ee-9"
    assert (plan.id_reuse_policy, plan.id_conflict_policy) == (REJECT, FAIL)


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
