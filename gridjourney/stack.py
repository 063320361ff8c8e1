"""The running parts of gridjourney against a given Postgres and Temporal: the API, the Temporal
workers, the projections and the event router. `gridjourney run` starts them all beside the
embedded servers; `gridjourney api` and `gridjourney worker` start their share (docker-compose)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.activities.scoring import ScoringActivities
from gridjourney.channels.registry import build_senders, close_senders
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.events.subscription import Subscription
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import SUBSCRIPTION_NAME, EventRouter
from gridjourney.temporal import connect
from gridjourney.worker import build_workers, ensure_scoring_schedule

log = logging.getLogger(__name__)


async def connect_when_available(
    address: str, namespace: str, converter: DataConverter, stop: asyncio.Event
) -> Client | None:
    """Connect to Temporal, retrying while it is down (appends keep working meanwhile)."""
    delay = 0.5
    while not stop.is_set():
        try:
            return await connect(address, namespace, converter)
        except RuntimeError as error:  # the SDK raises RuntimeError when the server is unreachable
            log.warning("Temporal at %s is not reachable yet (%s); retrying in %.0fs", address, error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 15.0)
    return None


@dataclass
class WorkerSide:
    """Workers, projections and router, started together: the router waits for the projections."""

    engine: AsyncEngine
    client: Client
    settings: Settings
    router: EventRouter = field(init=False)
    projections: ProjectionRunner = field(init=False)

    def __post_init__(self) -> None:
        self.router = EventRouter(
            self.engine,
            self.client,
            task_queue=self.settings.task_queue,
            send_task_queue=self.settings.send_task_queue,
        )
        self.projections = ProjectionRunner(self.engine)

    async def run(self, stop: asyncio.Event) -> None:
        senders = build_senders(self.settings, self.engine)
        activities = JourneyActivities(self.engine, self.settings, senders)
        scoring = ScoringActivities(self.engine, models_dir=self.settings.home / "models")
        workers: list[Worker] = build_workers(
            self.client,
            self.settings,
            journey_activities=activities.journey_activities,
            send_activities=activities.send_activities,
            scoring_activities=scoring.activities,
        )
        router_subscription = Subscription(self.engine, SUBSCRIPTION_NAME, self.router.handle)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                if self.settings.scoring_schedule:
                    await ensure_scoring_schedule(self.client, self.settings)
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self.projections.run_forever(stop))
                    tasks.create_task(router_subscription.run_forever(stop))
        finally:
            await close_senders(senders)


@contextlib.asynccontextmanager
async def worker_side(settings: Settings, database_url: str, client: Client) -> AsyncIterator[WorkerSide]:
    engine = create_engine(database_url)
    try:
        yield WorkerSide(engine, client, settings)
    finally:
        await engine.dispose()
