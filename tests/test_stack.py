"""The running parts: `gridjourney worker` (workers alone) never routes; the router side routes once
it leads the election."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import load_checkpoint
from gridjourney.projections import runner as projections
from gridjourney.router import router
from gridjourney.stack import RouterSide, WorkerSide
from tests.events.builders import new_event


async def checkpoints(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        return (
            await load_checkpoint(conn, projections.SUBSCRIPTION_NAME),
            await load_checkpoint(conn, router.SUBSCRIPTION_NAME),
        )


async def test_workers_leave_routing_to_the_router_side(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    queue = f"stack-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=queue, send_task_queue=f"{queue}-send", scoring_schedule=False)
    await EventStore(engine).append([new_event("customer.created", "c-1", {"name": "Ana"})])

    workers = WorkerSide(engine, temporal_dev_env.client, settings, route=False)
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    assert await checkpoints(engine) == (0, 0)
    assert workers.routing.election.terms == 0

    routing = RouterSide(engine, temporal_dev_env.client, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(routing.run(stop))
    try:
        for _ in range(200):
            if await checkpoints(engine) == (1, 1):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert await checkpoints(engine) == (1, 1)
    assert routing.election.terms == 1
