"""The running parts of gridjourney against a given Postgres and Temporal: the API, the Temporal
workers, the projections, the event router and the OpenADR VEN. `gridjourney run` starts them all beside
the embedded servers; `gridjourney api`, `gridjourney worker` and `gridjourney router` start their share
(docker-compose)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.activities.scoring import ScoringActivities
from gridjourney.channels.registry import build_senders, close_senders
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine, libpq_url
from gridjourney.events.subscription import Subscription
from gridjourney.openadr.ven import Ven, client_options
from gridjourney.openadr.vtn import LocalVtn
from gridjourney.privacy.temporal_erasures import retry_forever
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.leader import LeaderElection
from gridjourney.router.router import SUBSCRIPTION_NAME, EventRouter, is_routed
from gridjourney.schedules.run import sync_journey_schedules
from gridjourney.temporal import connect
from gridjourney.worker import build_workers, cohort_activities, ensure_scoring_schedule

log = logging.getLogger(__name__)
# The workers' task queues, as `gridjourney worker --queues` names them.
QUEUES = frozenset({"journeys", "send"})


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
class RouterSide:
    """The projections and the event router, run only while this process leads the router election
    (router/leader.py): however many processes run them, exactly one routes. The router waits for the
    projections, so both live in the leader."""

    engine: AsyncEngine
    client: Client
    settings: Settings
    election: LeaderElection = field(init=False)
    projections: ProjectionRunner = field(init=False)
    router: EventRouter | None = field(init=False, default=None)
    """The router of the current (or last) term of leadership."""
    vtn_url: str | None = field(init=False, default=None)
    """The VTN the OpenADR VEN polls while this process leads (settings.vtn_url; the local VTN's)."""
    ven: Ven | None = field(init=False, default=None)
    """The VEN of the current (or last) term of leadership."""

    def __post_init__(self) -> None:
        self.election = LeaderElection(
            libpq_url(self.engine.url.render_as_string(hide_password=False)),
            retry_interval=self.settings.router_election_interval,
        )
        self.projections = ProjectionRunner(self.engine)
        self.vtn_url = self.settings.vtn_url
        if self.vtn_url:
            client_options(self.settings)  # incomplete certificate settings fail here, at startup

    async def run(self, stop: asyncio.Event) -> None:
        await self.election.run(stop, self._lead)

    async def _lead(self, resign: asyncio.Event) -> None:
        """One term of leadership: until `resign` (stop, or the lock connection was lost). The VEN runs
        here too, so that one VEN polls the VTN however many router processes stand by."""
        router = EventRouter(
            self.engine,
            self.client,
            task_queue=self.settings.task_queue,
            send_task_queue=self.settings.send_task_queue,
            projections_wait=self.settings.router_projections_wait,
            stop=resign,
            cohort_batch_size=self.settings.cohort_batch_size,
            cohort_concurrency=self.settings.cohort_concurrency,
            projections_subscription=self.projections.subscription,
        )
        self.router = router
        subscription = Subscription(self.engine, SUBSCRIPTION_NAME, router.handle, wanted=is_routed)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.projections.run_forever(resign))
            tasks.create_task(subscription.run_forever(resign))
            # erasures whose Temporal part is pending, retried by one process (it never raises)
            tasks.create_task(retry_forever(self.engine, self.client, resign))
            if self.vtn_url:
                self.ven = Ven(self.engine, self.settings, vtn_url=self.vtn_url)
                tasks.create_task(self.ven.run(resign))


@dataclass
class WorkerSide:
    """The Temporal workers and, with `route` (`gridjourney run`, tests), the router side as well;
    `gridjourney worker` runs the workers alone and `gridjourney router` the router side alone."""

    engine: AsyncEngine
    client: Client
    settings: Settings
    route: bool = True
    queues: frozenset[str] = QUEUES
    """The task queues served: `journeys` (workflows and their activities), `send` (provider sends)."""
    routing: RouterSide = field(init=False)
    local_vtn: LocalVtn | None = field(init=False, default=None)
    """With `route` and settings.local_vtn: the local OpenADR VTN the VEN polls (the demo's events)."""

    def __post_init__(self) -> None:
        self.routing = RouterSide(self.engine, self.client, self.settings)
        if self.route and self.settings.local_vtn:
            self.local_vtn = LocalVtn(
                port=self.settings.local_vtn_port, poll_interval=self.settings.ven_poll_interval
            )

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
            cohort_activities=cohort_activities(
                self.engine, self.settings.home / "models", self.settings.holiday_calendar
            ),
            # `gridjourney worker` (no routing) lets running sends finish when stopped; the embedded
            # stack and the tests stop at once (Ctrl-C within seconds; the ledger covers a cut send)
            shutdown_grace=timedelta(0) if self.route else self.settings.worker_shutdown_grace,
        )
        workers = [
            worker for name, worker in zip(("journeys", "send"), workers, strict=True) if name in self.queues
        ]
        try:
            async with contextlib.AsyncExitStack() as stack:
                for worker in workers:
                    await stack.enter_async_context(worker)
                if self.settings.scoring_schedule and "journeys" in self.queues:
                    await ensure_scoring_schedule(self.client, self.settings)
                if "journeys" in self.queues:  # the journeys' schedule triggers (schedules/sync.py)
                    await sync_journey_schedules(self.engine, self.client, self.settings)
                if self.local_vtn is not None:
                    await self.local_vtn.start()
                    stack.push_async_callback(self.local_vtn.stop)
                    self.routing.vtn_url = self.local_vtn.url
                if self.route:
                    await self.routing.run(stop)
                else:
                    await stop.wait()
        finally:
            await close_senders(senders)


@contextlib.asynccontextmanager
async def worker_side(
    settings: Settings,
    database_url: str,
    client: Client,
    *,
    route: bool = True,
    queues: frozenset[str] = QUEUES,
) -> AsyncIterator[WorkerSide]:
    engine = create_engine(database_url)
    try:
        yield WorkerSide(engine, client, settings, route=route, queues=queues)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def router_side(settings: Settings, database_url: str, client: Client) -> AsyncIterator[RouterSide]:
    engine = create_engine(database_url)
    try:
        yield RouterSide(engine, client, settings)
    finally:
        await engine.dispose()
