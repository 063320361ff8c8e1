"""The router against real Postgres and the Temporal dev server: triggers start journeys with
deterministic ids, redelivery starts nothing new, later events reach running instances as signals.

The journey's activities are the in-memory stand-ins of tests/workflows (the router is what is
tested here; the real activities are covered by tests/integration)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import JourneyState
from tests.entry.retention import forget_run
from tests.events.builders import new_event
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, running_workers

BILL_WATCH = """
id: bill_watch
purpose: informational
trigger:
  event: bill.projection_updated
  when: "event.projected_amount >= 1.3 * event.typical_amount"
entry: {reentry: once_per_window, window: 30d}
exit_on: [bill.issued]
steps:
  - id: pause
    wait: 3d
"""


def _new(kind: str, customer_id: str, **payload: object) -> NewEvent:
    return new_event(kind, customer_id, dict(payload))


async def test_triggers_start_once_and_later_events_are_signalled(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, BILL_WATCH, "bill_watch.yaml", None)
    store = EventStore(engine)
    projections = ProjectionRunner(engine)
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    await store.append(
        [
            _new("customer.created", customer, name="Ana"),
            _new(
                "bill.projection_updated", customer, projected_amount=200.0, typical_amount=100.0, days_left=9
            ),
            _new(
                "bill.projection_updated", customer, projected_amount=90.0, typical_amount=100.0, days_left=8
            ),
        ]
    )
    await projections.catch_up()
    standins = StandIns()
    async with running_workers(client, standins):
        batch = await store.read_after(0)
        await router.handle(batch)
        await router.handle(batch)  # redelivery: nothing new
        assert router.started == 1

        [instance_id] = await _entered_instances(customer, standins)
        handle = client.get_workflow_handle(instance_id, result_type=JourneyState)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

        # bill.issued is an exit event of the running instance: it arrives as a signal
        await store.append([_new("bill.issued", customer, amount=180.0)])
        await projections.catch_up()
        await router.handle(await store.read_after(batch[-1].position))
        assert router.signalled == 1
        final = await handle.result()
    assert (final.status, final.exit_reason) == ("exited", "bill.issued")


async def _entered_instances(customer: str, standins: StandIns) -> list[str]:
    """The instances the customer entered, once the workflows have recorded their entry."""
    for _ in range(200):
        entered = [r for r in standins.of_type("journey.entered") if r.customer_id == customer]
        if entered:
            return [str(record.payload["instance_id"]) for record in entered]
        await asyncio.sleep(0.05)
    raise AssertionError("the journey never recorded its entry")


ONCE = """
id: welcome_once
purpose: informational
trigger: {event: customer.updated}
entry: {reentry: once}
steps:
  - id: pause
    wait: 1h
"""


async def test_once_holds_after_temporal_has_forgotten_the_run(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    """Temporal refuses a duplicate id only while it keeps the closed run. A run started long ago,
    which the router recorded and Temporal has since removed, must still count."""
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    journey = (await registry.publish(engine, ONCE, "welcome_once.yaml", None)).journey_id
    store = EventStore(engine)
    projections = ProjectionRunner(engine)
    await store.append([_new("customer.created", customer), _new("customer.updated", customer)])
    await projections.catch_up()
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    batch = await store.read_after(0)
    await router.handle(batch)
    assert router.started == 1
    await forget_run(client, f"journey:{journey}:{customer}")  # no worker ran it: it only has to exist

    await store.append([_new("customer.updated", customer)])
    await projections.catch_up()
    await router.handle(await store.read_after(batch[-1].position))
    assert router.started == 1
