"""The router's wait for the projections when they run in its own process: their moves end it, and
the database's checkpoint still does when another process (or a rebuild) folded the event."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription, save_checkpoint
from gridjourney.projections import runner as projections
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router import BILL_WATCH


async def _ignore(batch: list[StoredEvent]) -> None:
    del batch


async def test_a_checkpoint_moved_elsewhere_ends_the_wait_when_the_in_process_projections_lag(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, BILL_WATCH, "bill_watch.yaml", None)
    store = EventStore(engine)
    trigger = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}
    await store.append([new_event("bill.projection_updated", customer, trigger)])
    batch = await store.read_after(0)
    # Another process folded it: the saved checkpoint is at the event; this process's never moves.
    async with engine.begin() as conn:
        await save_checkpoint(conn, projections.SUBSCRIPTION_NAME, batch[-1].position)
    idle = Subscription(engine, "projections-in-this-process", _ignore)
    router = router_on_test_queues(
        engine,
        temporal_dev_env.client,
        projections_wait=3600,
        projections_subscription=idle,
    )
    await asyncio.wait_for(router.handle(batch), timeout=30)
    assert router.started == 1
