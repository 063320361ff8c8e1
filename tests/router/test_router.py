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
from gridjourney.events import dead_letters
from gridjourney.events.models import NewEvent, StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import SUBSCRIPTION_NAME, is_routed
from gridjourney.workflows.contracts import JourneyState
from tests.entry.retention import forget_run
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.workflows.standins import StandIns, running_workers

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
    router = router_on_test_queues(engine, client)
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
    router = router_on_test_queues(engine, client)
    batch = await store.read_after(0)
    await router.handle(batch)
    assert router.started == 1
    await forget_run(client, f"journey:{journey}:{customer}")  # no worker ran it: it only has to exist

    await store.append([_new("customer.updated", customer)])
    await projections.catch_up()
    await router.handle(await store.read_after(batch[-1].position))
    assert router.started == 1


async def test_the_router_waits_for_the_projections_only_so_long_then_routes(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, BILL_WATCH, "bill_watch.yaml", None)
    store = EventStore(engine)
    await store.append(
        [_new("bill.projection_updated", customer, projected_amount=200.0, typical_amount=100.0, days_left=9)]
    )
    # No projection runner: their checkpoint never reaches the event.
    router = router_on_test_queues(engine, client, projections_wait=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(router.handle(await store.read_after(0)), timeout=30)
    assert loop.time() - started >= 0.5
    assert router.started == 1


async def test_projections_folded_in_this_process_end_the_wait_without_the_database(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    """RouterSide hands the router the projections' subscription: once it has folded the event, the
    router routes, whatever the saved checkpoint the database poll reads says."""
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, BILL_WATCH, "bill_watch.yaml", None)
    store = EventStore(engine)
    await store.append(
        [_new("bill.projection_updated", customer, projected_amount=200.0, typical_amount=100.0, days_left=9)]
    )
    # Another subscription stands in for the projections: "projections" in the database stays at 0,
    # so only what this process knows can end a wait of an hour.
    folded = Subscription(engine, "projections-in-this-process", _ignore)
    await folded.catch_up()
    router = router_on_test_queues(
        engine,
        temporal_dev_env.client,
        projections_wait=3600,
        projections_subscription=folded,
    )
    await asyncio.wait_for(router.handle(await store.read_after(0)), timeout=30)
    assert router.started == 1


async def _ignore(batch: list[StoredEvent]) -> None:
    del batch


async def test_stopping_ends_the_wait_for_the_projections_without_moving_the_checkpoint(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    store = EventStore(engine)
    await store.append([_new("customer.created", "c-1", name="Ana")])
    stop = asyncio.Event()
    router = router_on_test_queues(
        engine,
        temporal_dev_env.client,
        projections_wait=3600,
        stop=stop,
    )
    # A long grace: the subscription would cancel the handler only after it, so a quick stop is the
    # router's own doing.
    subscription = Subscription(engine, SUBSCRIPTION_NAME, router.handle, stop_grace=60)
    running = asyncio.create_task(subscription.run_forever(stop))
    await asyncio.sleep(0.5)  # the router is waiting for projections that never run
    assert not running.done()

    stop.set()
    await asyncio.wait_for(running, timeout=2)
    assert await subscription.checkpoint() == 0
    assert subscription.errors == 0
    async with engine.connect() as conn:
        assert await dead_letters.list_for(conn, SUBSCRIPTION_NAME) == []


STILL_OUT = """
id: still_out
purpose: safety
trigger: {event: outage.restored}
entry: {reentry: every_trigger}
steps:
  - id: await_reply
    wait_for:
      event: message.received
      when: "event.keyword == 'OUT'"
      timeout: 1d
      on_event: end
      on_timeout: end
"""


def test_only_what_a_customer_said_is_routed_among_the_engines_records() -> None:
    assert is_routed("message.received")
    assert is_routed("outage.restored")
    for engine_record in ("message.sent", "message.deferred", "journey.entered", "suppression.added"):
        assert not is_routed(engine_record), engine_record


async def test_an_inbound_reply_reaches_the_journey_waiting_for_it(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, STILL_OUT, "still_out.yaml", None)
    store = EventStore(engine)
    projections = ProjectionRunner(engine)
    router = router_on_test_queues(engine, client)
    await store.append(
        [
            _new("customer.created", customer, name="Ana"),
            new_event(
                "outage.restored",
                customer,
                {"incident_id": "INC-1", "restored_at": "2026-11-29T20:00:00Z"},
            ),
        ]
    )
    await projections.catch_up()
    standins = StandIns()
    async with running_workers(client, standins):
        first = await store.read_after(0)
        await router.handle(first)
        [instance_id] = await _entered_instances(customer, standins)
        # the engine's record of a send is no news to the journey; the customer's reply is
        await store.append(
            [
                _new("message.sent", customer, idempotency_key="k-1", channel="sms"),
                _new("message.received", customer, body="OUT", keyword="OUT"),
            ]
        )
        await projections.catch_up()
        await router.handle(await store.read_after(first[-1].position))
        assert router.signalled == 1
        final = await client.get_workflow_handle(instance_id, result_type=JourneyState).result()
    assert final.status == "completed"
    assert (final.steps_taken[-1].step_id, final.steps_taken[-1].outcome) == ("await_reply", "event")


async def test_a_batch_is_routed_customers_side_by_side_each_customers_events_in_order(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    # One batch: each customer's trigger, then their exit event. Routed out of order, the exit would
    # find no running instance (nothing signalled) and the run would wait out its 3 days.
    client = temporal_dev_env.client
    customers = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    await registry.publish(engine, BILL_WATCH, "bill_watch.yaml", None)
    store = EventStore(engine)
    projections = ProjectionRunner(engine)
    router = router_on_test_queues(engine, client, concurrency=4)
    await store.append([_new("customer.created", customer, name="Ana") for customer in customers])
    await store.append(
        [
            _new(
                "bill.projection_updated", customer, projected_amount=200.0, typical_amount=100.0, days_left=9
            )
            for customer in customers
        ]
        + [_new("bill.issued", customer, amount=180.0) for customer in reversed(customers)]
    )
    await projections.catch_up()
    standins = StandIns()
    async with running_workers(client, standins):
        await router.handle(await store.read_after(0))
        assert (router.started, router.signalled) == (len(customers), len(customers))
        for customer in customers:
            [instance_id] = await _entered_instances(customer, standins)
            final = await client.get_workflow_handle(instance_id, result_type=JourneyState).result()
            assert (final.status, final.exit_reason) == ("exited", "bill.issued")
