"""Retiring while the router is mid-batch (real Postgres and the Temporal dev server): the batch read
the journey as active, so it may still start its run, but only before the retirement returns; once
`retire_journey` has returned, nothing starts a run of it. And a retirement that cannot get the start
gate in time stores nothing and says so."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router import start_gate
from gridjourney.router.router import EventRouter
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router_retired import MISTAKE
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, running_workers

PROJECTION: dict[str, object] = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}


class RouterHeldAfterReading(EventRouter):
    """A router whose batch stops between reading the journeys and starting runs, until `go`: the
    moment a retirement used to slip through."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        super().__init__(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
        self.read, self.go = asyncio.Event(), asyncio.Event()

    async def _journeys(self) -> list[CompiledJourney]:
        journeys = await super()._journeys()
        self.read.set()
        await self.go.wait()
        return journeys


async def test_no_run_of_a_retired_journey_starts_after_the_retirement_returns(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customers = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    store, projections = EventStore(engine), ProjectionRunner(engine)
    await store.append([new_event("customer.created", customer, {"name": "Ana"}) for customer in customers])
    await projections.catch_up()
    await router_on_test_queues(engine, client).handle(await store.read_after(0))
    head = await store.head()
    await store.append([new_event("bill.projection_updated", customer, PROJECTION) for customer in customers])
    await projections.catch_up()

    held = RouterHeldAfterReading(engine, client)
    order: list[str] = []
    async with running_workers(client, StandIns()):
        batch = asyncio.create_task(held.handle(await store.read_after(head)))
        batch.add_done_callback(lambda _: order.append(f"batch done, {held.started} started"))
        await held.read.wait()  # it read mistaken_watch as active
        retiring = asyncio.create_task(start_gate.retire_journey(engine, "mistaken_watch", "marketer"))
        retiring.add_done_callback(lambda _: order.append("retire returned"))
        await asyncio.wait({retiring}, timeout=1.0)  # time for a retirement that does not wait
        held.go.set()
        await batch
        retired = await retiring
    assert retired is not None and retired[1] is True
    # the batch's starts all came before the retirement returned
    assert order == ["batch done, 3 started", "retire returned"]


async def test_a_retirement_that_waited_too_long_for_the_gate_stores_nothing(engine: AsyncEngine) -> None:
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    async with start_gate.starting_runs(engine):  # a batch that does not end (Temporal not answering)
        with pytest.raises(start_gate.GateBusy):
            await start_gate.retire_journey(engine, "mistaken_watch", "marketer", wait=0.2)
    assert await registry.retirement(engine, "mistaken_watch") is None
    # the batch over, the same request retires it
    assert await start_gate.retire_journey(engine, "mistaken_watch", "marketer", wait=0.2) is not None
    assert await registry.retirement(engine, "mistaken_watch") is not None
