"""Serving the metrics: `GET /metrics` on the API (`metrics_route`) and a small HTTP endpoint of its
own for `gridjourney worker` and `gridjourney router` (`serve_metrics`, on settings.metrics_port).

Both render the process's counters (the default registry: observability/metrics.py, and the Python
process collectors) followed by the database gauges, read at that moment (observability/database.py).
When several API processes serve one port (`GRIDJOURNEY_API_WORKERS`), a scrape reaches one of them:
`shared_process_metrics` then puts prometheus-client in its multiprocess mode, each process writing
its counters to files in one directory, and every process's `/metrics` shows their sums.
The Temporal SDK's own metrics have their own endpoint, the SDK runtime's (gridjourney/logs.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.observability.database import DatabaseGauges

log = logging.getLogger(__name__)


class SendRateLimits(Collector):
    """The configured provider send rates, so that alerts can compare the send rate with its ceiling."""

    def __init__(self, settings: Settings) -> None:
        self.task_queue = settings.send_task_queue
        self.limits = {
            "all": settings.send_rate_per_second,
            "sms": settings.sms_rate_per_second,
            "email": settings.email_rate_per_second,
            "push": settings.push_rate_per_second,
        }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gridjourney_send_rate_limit_per_second",
            "Configured provider calls per second across all send workers (channel `all`: the send "
            "queue's limit; sms/email/push: a channel's own, when set). `task_queue`: the send task "
            "queue, to divide its activity dispatch rate (Temporal's metrics) by the limit.",
            labels=["channel", "task_queue"],
        )
        for channel, limit in self.limits.items():
            if limit is not None:
                family.add_metric([channel, self.task_queue], limit)
        yield family


# prometheus-client reads it when imported: set before the serving processes start, it makes their
# counters and histograms files in that directory.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def shared_process_metrics() -> Iterator[str]:
    """While inside, processes started from this one count into one fresh directory (removed after),
    so that each one's `/metrics` shows all of theirs: the counts of processes that died (uvicorn
    replaces them) stay in, as a counter's must."""
    directory = tempfile.mkdtemp(prefix="gridjourney-metrics-")
    earlier = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield directory
    finally:
        if earlier is None:
            os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = earlier
        shutil.rmtree(directory, ignore_errors=True)


def process_metrics() -> CollectorRegistry:
    """This process's metrics, or, in multiprocess mode, the sums over the processes sharing its
    directory (the Python process collectors, per process, are then left out)."""
    if not os.environ.get(MULTIPROCESS_DIRECTORY):
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return registry


class Exposition:
    """The text Prometheus scrapes: the process's metrics, then the database's and the settings'."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.gauges = DatabaseGauges(engine)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self.gauges)
        self._registry.register(SendRateLimits(settings))
        self._process = process_metrics()

    async def render(self) -> bytes:
        await self.gauges.refresh()
        return generate_latest(self._process) + generate_latest(self._registry)


def metrics_route(engine: AsyncEngine, settings: Settings) -> APIRouter:
    """`GET /metrics` for the API. Public like /healthz: labels are ids and codes, no personal data."""
    exposition = Exposition(engine, settings)
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics(_: Request) -> Response:
        return Response(await exposition.render(), media_type=CONTENT_TYPE_LATEST)

    return router


@contextlib.asynccontextmanager
async def serve_metrics(settings: Settings, database_url: str) -> AsyncIterator[int | None]:
    """While inside: `GET /metrics` on settings.metrics_host:metrics_port (unset port: nothing is
    served). Yields the port listened on (0 in the settings picks a free one; None: not served)."""
    if settings.metrics_port is None:
        yield None
        return
    engine = create_engine(database_url, pool_size=1)
    exposition = Exposition(engine, settings)

    async def metrics(_: web.Request) -> web.Response:
        body = await exposition.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    try:
        await site.start()
        port = int(runner.addresses[0][1])
        log.info("metrics: serving /metrics on %s:%d", settings.metrics_host, port)
        yield port
    finally:
        await runner.cleanup()
        await engine.dispose()
