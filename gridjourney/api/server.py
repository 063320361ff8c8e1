"""Serving the API with uvicorn: for `gridjourney api` and for the embedded stack of `gridjourney run`.

`gridjourney api` serves in one process, or with settings.api_workers processes sharing its port
(`serve_api_processes`): each builds the app from the environment (`app_from_environment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from gridjourney.api.app import create_app
from gridjourney.api.deps import lazy_temporal_client
from gridjourney.config import Settings, get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import PortBusyError, resolve_database_url
from gridjourney.logs import configure_logging
from gridjourney.observability.exposition import shared_process_metrics
from gridjourney.temporal import data_converter


class PortInUse(PortBusyError):
    """The API's port is taken; the message says which and how to choose another."""


class _EmbeddedServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the embedding process (uvicorn would otherwise take them over)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a busy port is a clear error and not a log line plus exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(
                f"cannot listen on {host}:{port} ({exc.strerror}): another process uses the port; "
                "stop it or choose another with GRIDJOURNEY_API_PORT"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


async def serve_api(
    settings: Settings,
    database_url: str,
    temporal_address: str,
    *,
    handle_signals: bool = True,
    log_level: str = "info",
) -> None:
    """Serve until cancelled or interrupted. Raises PortInUse before anything starts if the port is taken.

    Temporal is connected on first use, so the API accepts events even while Temporal is down.
    Cancelling the task shuts down gracefully (in-flight requests finish, the engine is disposed).
    `handle_signals=False` leaves Ctrl-C to an embedding process that stops everything itself;
    such a process may also quieten the access log with `log_level="warning"`.
    """
    converter = data_converter(settings)  # before binding: missing keys are a startup error
    sock = bind_socket(settings.api_host, settings.api_port)
    engine = create_engine(database_url)
    app = create_app(
        settings,
        engine,
        lazy_temporal_client(temporal_address, settings.temporal_namespace, converter),
        dispose_engine=True,
    )
    freeze_start_up()
    # log_config=None: uvicorn's records reach the process's JSON-lines handler (gridjourney/logs.py)
    config = uvicorn.Config(app, log_level=log_level, log_config=None, lifespan="on")
    server = uvicorn.Server(config) if handle_signals else _EmbeddedServer(config)
    try:
        await serve_until_cancelled(server, sockets=[sock])
    finally:
        sock.close()


async def serve_until_cancelled(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
    """Serve until cancelled; a cancellation lets in-flight requests finish, then propagates."""
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


def app_from_environment() -> FastAPI:
    """The API of one worker process (`uvicorn --factory`), from the settings and servers that
    `gridjourney api` reads: GRIDJOURNEY_DATABASE_URL, GRIDJOURNEY_TEMPORAL_ADDRESS and the rest."""
    # A spawned worker starts without the parent's logging. The SDK's metrics exporter is left out:
    # every worker process would bind the same port, and the API's Temporal client does little.
    configure_logging(logging.INFO, temporal_metrics=False)
    settings = get_settings()
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    app = create_app(
        settings,
        create_engine(resolve_database_url(settings)),
        lazy_temporal_client(address, settings.temporal_namespace, data_converter(settings)),
        dispose_engine=True,
    )
    freeze_start_up()
    return app


# Allocations between two young-generation collections (Python's default: 700). A batch of 1,000
# events allocates tens of thousands of objects that live until its answer is sent: at 700, each
# batch met dozens of collections that walked its live objects again and again (about a tenth of the
# API's CPU per batch); at this threshold most of them are freed before any walk sees them.
GC_YOUNG_THRESHOLD = 50_000


def freeze_start_up() -> None:
    """Leave what start-up built (modules, models, compiled validators: hundreds of thousands of
    objects that live as long as the process) out of the garbage collector's walks. Each full
    collection walked them all: about a third of the API's CPU for a batch of 1,000 events
    (bench ingest). And collect the young generation less often (GC_YOUNG_THRESHOLD). Once per
    serving process, after the app is built."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def serve_api_processes(settings: Settings) -> None:
    """Serve with settings.api_workers processes sharing one socket, until SIGINT or SIGTERM (uvicorn's
    supervisor replaces a worker that dies). Raises PortInUse before anything starts."""
    data_converter(settings)  # missing keys are a startup error, before binding
    sock = bind_socket(settings.api_host, settings.api_port)
    config = uvicorn.Config(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=settings.api_workers,
        log_config=None,
        lifespan="on",
    )
    # Each scrape reaches one of the processes: with several, they count into files they share.
    shared = shared_process_metrics() if settings.api_workers > 1 else contextlib.nullcontext()
    try:
        with shared:
            Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
