"""Retiring while the router is starting runs (real Postgres and the Temporal dev server): an event the
router is routing when the retirement comes read the journey as active, so it may still start its
run, but only before the retirement returns; once `retire_journey` has returned, nothing starts a run
of it, not even the next events of the same batch. The gates are per journey: retiring one journey
does not wait for the starts of another. And a retirement that cannot get its gate in time stores
nothing and says so."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router import start_gate
from gridjourney.router.queries import START_GATE_LOCK
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import EventRef
from tests.events.builders import new_event
from tests.router.test_router_retired import MISTAKE
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, running_workers

PROJECTION: dict[str, object] = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}
STEADY = """
id: steady_watch
purpose: informational
trigger: {event: bill.issued}
entry: {reentry: every_trigger}
steps:
  - id: pause
    wait: 3d
"""


class RouterHeldInGate(EventRouter):
    """A router whose events numbered in `hold` (by their arrival, from 1) stop inside the start gate,
    after it read the journeys again under it and before it starts their runs, until `go`: the moment
    a retirement used to slip through. `read` is set when the last of them has arrived; the other
    events go on at once."""

    def __init__(self, engine: AsyncEngine, client: Client, *, hold: range) -> None:
        super().__init__(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
        self.hold = hold
        self.arrived = 0
        self.read, self.go = asyncio.Event(), asyncio.Event()

    async def _route_event(self, event: EventRef, journeys: list[CompiledJourney]) -> None:
        self.arrived += 1
        if self.arrived in self.hold:
            if self.arrived == self.hold[-1]:
                self.read.set()
            await self.go.wait()
        await super()._route_event(event, journeys)


async def known_customers(engine: AsyncEngine, store: EventStore, count: int) -> list[str]:
    customers = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    await store.append([new_event("customer.created", customer, {"name": "Ana"}) for customer in customers])
    await ProjectionRunner(engine).catch_up()
    return customers


async def retirement_waiting(engine: AsyncEngine) -> None:
    """Until a session waits for a start gate (a retirement), or a while (then the test judges)."""
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :lock_class "
        "AND objsubid = 2 AND NOT granted"
    ).bindparams(lock_class=START_GATE_LOCK)
    for _ in range(100):
        async with engine.connect() as conn:
            if await conn.scalar(waiting):
                return
        await asyncio.sleep(0.05)


async def test_no_run_of_a_retired_journey_starts_after_the_retirement_returns(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    store = EventStore(engine)
    customers = await known_customers(engine, store, 3)
    head = await store.head()
    await store.append([new_event("bill.projection_updated", customer, PROJECTION) for customer in customers])
    await ProjectionRunner(engine).catch_up()

    held = RouterHeldInGate(engine, client, hold=range(1, 4))  # the three customers' events, side by side
    order: list[str] = []
    async with running_workers(client, StandIns()):
        batch = asyncio.create_task(held.handle(await store.read_after(head)))
        batch.add_done_callback(lambda _: order.append(f"batch done, {held.started} started"))
        await held.read.wait()  # each read mistaken_watch as active, under its gate
        retiring = asyncio.create_task(start_gate.retire_journey(engine, "mistaken_watch", "marketer"))
        retiring.add_done_callback(lambda _: order.append(f"retire returned, {held.started} started"))
        await asyncio.wait({retiring}, timeout=1.0)  # time for a retirement that does not wait
        held.go.set()
        await batch
        retired = await retiring
    assert retired is not None and retired[1] is True
    # the starts in flight all came before the retirement returned
    assert sorted(order) == ["batch done, 3 started", "retire returned, 3 started"]


async def test_a_retirement_landing_mid_batch_stops_the_batch_starting_runs_of_it(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    """A flood of one customer's events for X (its lane routes them one after the other): the event in
    flight when the retirement comes starts its run; the ones after it start none."""
    client = temporal_dev_env.client
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    store = EventStore(engine)
    [customer] = await known_customers(engine, store, 1)
    head = await store.head()
    await store.append([new_event("bill.projection_updated", customer, PROJECTION) for _ in range(8)])
    await ProjectionRunner(engine).catch_up()

    held = RouterHeldInGate(engine, client, hold=range(3, 4))
    async with running_workers(client, StandIns()):
        batch = asyncio.create_task(held.handle(await store.read_after(head)))
        await held.read.wait()  # the third event is in its gate; two runs started
        retiring = asyncio.create_task(start_gate.retire_journey(engine, "mistaken_watch", "marketer"))
        started_at_return: list[int] = []
        retiring.add_done_callback(lambda _: started_at_return.append(held.started))
        await retirement_waiting(engine)  # it waits for the event in flight
        assert not retiring.done()
        held.go.set()
        retired = await retiring
        await batch
    assert retired is not None and retired[1] is True
    assert started_at_return == [3]  # the event in flight finished its start before the return
    assert held.started == 3  # and the five after it started nothing
    assert held.skipped_retired == 5


async def test_retiring_a_journey_does_not_wait_for_the_starts_of_another(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    await registry.publish(engine, STEADY, "steady_watch.yaml", None)
    store = EventStore(engine)
    customers = await known_customers(engine, store, 3)
    head = await store.head()
    await store.append([new_event("bill.issued", customer, {"amount": 180.0}) for customer in customers])
    await ProjectionRunner(engine).catch_up()

    held = RouterHeldInGate(engine, client, hold=range(1, 4))  # starting runs of steady_watch, not ending
    async with running_workers(client, StandIns()):
        batch = asyncio.create_task(held.handle(await store.read_after(head)))
        await held.read.wait()
        # mistaken_watch's gate is free: no GateBusy, however long steady_watch's starts take
        retired = await start_gate.retire_journey(engine, "mistaken_watch", "marketer", wait=5.0)
        assert retired is not None and retired[1] is True
        assert not batch.done()
        # steady_watch's own retirement does wait for them
        with pytest.raises(start_gate.GateBusy):
            await start_gate.retire_journey(engine, "steady_watch", "marketer", wait=0.2)
        held.go.set()
        await batch
    assert held.started == 3
    assert await registry.retirement(engine, "steady_watch") is None


async def test_a_retirement_that_waited_too_long_for_the_gate_stores_nothing(engine: AsyncEngine) -> None:
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    # starts of it that do not end (Temporal not answering)
    async with start_gate.starting_runs(engine, ["mistaken_watch"]):
        with pytest.raises(start_gate.GateBusy):
            await start_gate.retire_journey(engine, "mistaken_watch", "marketer", wait=0.2)
    assert await registry.retirement(engine, "mistaken_watch") is None
    # the starts over, the same request retires it
    assert await start_gate.retire_journey(engine, "mistaken_watch", "marketer", wait=0.2) is not None
    assert await registry.retirement(engine, "mistaken_watch") is not None
