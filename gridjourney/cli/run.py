"""`gridjourney run` (the embedded stack with the demo), `gridjourney worker`, `gridjourney router` and
`gridjourney api`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from gridjourney.cli.db import require_current_schema
from gridjourney.config import Settings, get_settings
from gridjourney.devstack import (
    PortBusyError,
    PortCheck,
    TemporalDevServer,
    ensure_ports_free,
    resolve_database_url,
    stop_embedded_postgres,
)
from gridjourney.file_errors import FileErrors
from gridjourney.logs import configure_logging
from gridjourney.privacy.keyring import KeyConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

    from gridjourney.demo.compliance import Providers
    from gridjourney.openadr.vtn import LocalVtn

console = Console()
DEMO_VEN_POLL = timedelta(seconds=2)


FORCED_EXIT_AFTER = 9.0
"""Seconds after Ctrl-C or SIGTERM after which the process leaves whatever still runs: stopping always
takes less than 10 s (the embedded servers are stopped by the watchdog, watchdog.py)."""


def install_stop_handlers(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM ask every part to finish its work and stop; no traceback, nothing orphaned.
    A second Ctrl-C, or `FORCED_EXIT_AFTER` seconds, ends the process at once."""
    loop = asyncio.get_running_loop()
    signalled = threading.Event()

    def request_stop() -> None:
        if signalled.is_set():
            _force_exit("stopping again on request")
        signalled.set()
        stop.set()
        # A timer thread, not the event loop: it fires even if something blocks the loop.
        timer = threading.Timer(FORCED_EXIT_AFTER, _force_exit, args=("the stop took too long",))
        timer.daemon = True
        timer.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)


def _force_exit(why: str) -> None:
    sys.stderr.write(f"gridjourney: {why}; exiting now\n")
    sys.stderr.flush()
    os._exit(130)


def journey_sources(settings: Settings) -> list[tuple[Path, str]]:
    from gridjourney.dsl.loader import journey_text

    return [(path, journey_text(path)) for path in sorted(Path(settings.journeys_dir).glob("*.yaml"))]


async def publish_journeys(database_url: str, sources: list[tuple[Path, str]], settings: Settings) -> None:
    from gridjourney.db.engine import create_engine
    from gridjourney.dsl import registry

    engine = create_engine(database_url)
    try:
        for path, source in sources:
            result = await registry.publish(engine, source, str(path), settings.templates_dir)
            state = "published" if result.created else "unchanged"
            console.print(f"  journey [bold]{result.journey_id}[/] v{result.version} {state}")
    finally:
        await engine.dispose()


async def run_embedded(settings: Settings, *, demo: bool, exit_after_demo: bool, customers: int) -> int:
    # Imported here so that `gridjourney journeys ...` starts without loading the whole stack.
    import httpx

    from gridjourney.api.server import serve_api
    from gridjourney.channels.push_standin import push_standin_from_settings
    from gridjourney.channels.sendgrid_standin import standin_from_settings as email_standin_from_settings
    from gridjourney.channels.twilio_standin import standin_from_settings
    from gridjourney.demo.compliance import Providers
    from gridjourney.policy.loader import load_policy
    from gridjourney.stack import connect_when_available, worker_side
    from gridjourney.temporal import data_converter
    from gridjourney.watchdog import Watchdog

    # Read before anything starts: a policy that cannot be read is one located line (FileErrors, in
    # run()), not a traceback out of the workers' task group once the stack is up.
    load_policy(settings.policy_file)
    # The push stand-in listens on 127.0.0.1: browsers the demo subscribes there must be accepted.
    settings = settings.model_copy(update={"push_local_endpoints": True})
    # GRIDJOURNEY_LOCAL_VTN=true: the demo's VTN and VEN keep running after it, for `gridjourney dr ...`
    demo_vtn = DemoVtn(keep=settings.local_vtn)
    if demo:
        # The demo runs its own local VTN and a VEN polling it (_demo_vtn): the stack must not start
        # a second VTN on the same port, nor a second VEN appending the same events.
        settings = settings.model_copy(update={"local_vtn": False, "vtn_url": None})
    converter = data_converter(settings)
    temporal = TemporalDevServer(
        settings.home / "temporal",
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port,
        namespace=settings.temporal_namespace,
    )
    vtn = PortCheck("127.0.0.1", settings.local_vtn_port, "local OpenADR VTN", "local_vtn_port")
    ensure_ports_free(
        [
            PortCheck(settings.api_host, settings.api_port, "API", "api_port"),
            PortCheck("127.0.0.1", settings.sms_standin_port, "SMS stand-in", "sms_standin_port"),
            PortCheck("127.0.0.1", settings.push_standin_port, "push stand-in", "push_standin_port"),
            PortCheck("127.0.0.1", settings.email_standin_port, "email stand-in", "email_standin_port"),
            *([vtn] if demo else []),
            *temporal.port_checks(),
        ]
    )
    stop = asyncio.Event()
    install_stop_handlers(stop)
    # Started first, so that the servers are stopped even if we are killed while starting them.
    watchdog = Watchdog()
    postgres_dir = settings.home / "postgres"
    standin = standin_from_settings(settings)
    push_standin = push_standin_from_settings(settings)
    email_standin = email_standin_from_settings(settings)
    console.print(f"[bold]gridjourney[/] embedded stack in {settings.home.resolve()}")
    try:
        if settings.database_url is None:
            watchdog.postgres(postgres_dir)
        console.print("  starting PostgreSQL and running migrations …")
        database_url = resolve_database_url(settings)
        if stop.is_set():
            return 130
        console.print("  starting the Temporal dev server …")
        temporal.start(on_launch=watchdog.group)
        await standin.start()
        await push_standin.start()
        await email_standin.start()
        # decided before publishing: a demo that will not play must not publish its short-hold variants
        replayed_demo = demo and await _played_before(database_url, settings)
        demo = demo and not replayed_demo
        sources = journey_sources(settings)
        if demo:
            from gridjourney.demo.journeys import DEMO_HOLD, demo_journey_sources

            sources = demo_journey_sources(sources)
            console.print(
                f"  the demo holds outage notices {DEMO_HOLD.seconds} s instead of the shipped 5 minutes"
            )
        await publish_journeys(database_url, sources, settings)
        client = await connect_when_available(temporal.address, settings.temporal_namespace, converter, stop)
        if client is None:
            return 130
        async with (
            worker_side(settings, database_url, client) as workers,
            demo_vtn,
            asyncio.TaskGroup() as tasks,
        ):
            worker_task = tasks.create_task(workers.run(stop))
            temporal_kept = tasks.create_task(_keep_temporal(temporal, stop, watchdog.group))
            api_task = tasks.create_task(
                serve_api(settings, database_url, temporal.address, handle_signals=False, log_level="warning")
            )
            urls = (
                f"API docs: http://{settings.api_host}:{settings.api_port}/docs\n"
                f"Temporal UI: {temporal.ui_url}\n"
                f"SMS stand-in: {standin.base_url}/2010-04-01/Accounts/"
                f"{settings.twilio_account_sid}/Messages.json\n"
                f"Push stand-in: {push_standin.base_url}/messages\n"
                f"Email stand-in (SendGrid): {email_standin.base_url}/standin/emails"
            )
            console.print(urls)
            exit_code = 0
            if replayed_demo:
                # nothing was checked: a run asked to check the demo says so by its exit code
                exit_code = 1 if exit_after_demo else 0
                if exit_after_demo:
                    stop.set()
            if demo:
                async with httpx.AsyncClient(base_url=local_api_url(settings)) as api:
                    providers = Providers(sms=standin, email=email_standin, push=push_standin, api=api)
                    exit_code = await _demo_unless_stopped(
                        workers.engine, client, settings, providers, customers, stop, demo_vtn
                    )
                await demo_vtn.demo_ended()
                console.print(urls)
                if demo_vtn.kept is not None:
                    console.print(
                        f"Local OpenADR VTN: {demo_vtn.kept.url} keeps running (GRIDJOURNEY_LOCAL_VTN)"
                    )
                if exit_after_demo:
                    stop.set()
            if not stop.is_set():
                console.print("Running. Press Ctrl-C to stop.")
            await stop.wait()
            console.print("Stopping …")
            api_task.cancel()
            await worker_task
            if not await temporal_kept:
                console.print("[red]stopped: the Temporal dev server could not be kept running[/]")
                exit_code = 1
        return exit_code
    finally:
        await standin.stop()
        await push_standin.stop()
        await email_standin.stop()
        temporal.request_stop()  # it winds down while Postgres does
        if settings.database_url is None:
            stop_embedded_postgres(postgres_dir)
        temporal.stop()


async def _keep_temporal(
    temporal: TemporalDevServer, stop: asyncio.Event, on_launch: Callable[[int], None]
) -> bool:
    """Restart the embedded Temporal whenever it dies, saying so; when it cannot be kept running, stop
    the stack (a stack whose journeys cannot move must not look healthy). False then."""
    kept = await temporal.keep_running(
        stop, lambda line: console.print(f"[yellow]{line}[/]"), on_launch=on_launch
    )
    if not kept:
        stop.set()
    return kept


async def _played_before(database_url: str, settings: Settings) -> bool:
    from gridjourney.db.engine import create_engine
    from gridjourney.demo.runner import played_before

    engine = create_engine(database_url, pool_size=1)
    try:
        if not await played_before(engine):
            return False
    finally:
        await engine.dispose()
    console.print(
        f"[yellow]The demo has already played in this home ({settings.home}): it plays once per "
        "home. The stack runs on, and the journeys it started carry on. To play the demo again, start "
        f"from a fresh home: remove {settings.home} (Postgres and Temporal's data), or set another "
        "GRIDJOURNEY_HOME.[/]"
    )
    return True


async def _demo_unless_stopped(
    engine: AsyncEngine,
    client: Client,
    settings: Settings,
    providers: Providers,
    customers: int,
    stop: asyncio.Event,
    demo_vtn: DemoVtn,
) -> int:
    """0 if the demo's journeys reached their expected states, 1 if not, 130 if stopped before."""
    from gridjourney.demo.runner import run_demo

    vtn = await demo_vtn.open(engine, settings)
    return await _until_stopped(
        run_demo(engine, client, settings, providers, console, customers=customers, vtn=vtn), stop
    )


class DemoVtn:
    """The lifetime of the demo's local VTN and VEN (_demo_vtn): closed when the demo ends, or, with
    `keep` (GRIDJOURNEY_LOCAL_VTN=true), kept until the stack stops, so that an operator can put DR
    events into it (`gridjourney dr vtn-event`, which calls its operator routes)."""

    def __init__(self, *, keep: bool) -> None:
        self.keep = keep
        self._scope = contextlib.AsyncExitStack()
        self._vtn: LocalVtn | None = None

    async def open(self, engine: AsyncEngine, settings: Settings) -> LocalVtn:
        self._vtn = await self._scope.enter_async_context(_demo_vtn(engine, settings))
        return self._vtn

    @property
    def kept(self) -> LocalVtn | None:
        """The VTN still running after the demo, if any."""
        return self._vtn if self.keep else None

    async def demo_ended(self) -> None:
        if not self.keep:
            self._vtn = None
            await self._scope.aclose()

    async def __aenter__(self) -> DemoVtn:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._vtn = None
        await self._scope.aclose()


@contextlib.asynccontextmanager
async def _demo_vtn(engine: AsyncEngine, settings: Settings) -> AsyncIterator[LocalVtn]:
    """The local OpenADR VTN the demo's DR events come from, and the VEN polling it (often, so the demo
    does not wait on it)."""
    from gridjourney.openadr.ven import running_ven
    from gridjourney.openadr.vtn import local_vtn

    poll = min(settings.ven_poll_interval, DEMO_VEN_POLL)
    # openleadr logs every poll at INFO, and warns of values it corrects itself: the demo's console is
    # for the demo (the VEN logs what it appends and refuses on gridjourney.openadr's loggers)
    logging.getLogger("openleadr").setLevel(logging.ERROR)
    async with (
        local_vtn(port=settings.local_vtn_port, poll_interval=poll) as vtn,
        running_ven(engine, settings, vtn_url=vtn.url, poll_interval=poll),
    ):
        console.print(
            f"Local OpenADR VTN: {vtn.url} (VEN {settings.ven_name} polls it every {poll.seconds}s)"
        )
        yield vtn


async def _until_stopped(demo_run: Coroutine[Any, Any, bool], stop: asyncio.Event) -> int:
    demo = asyncio.create_task(demo_run)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({demo, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not demo.done():
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
        return 130
    return 0 if demo.result() else 1


def run(
    demo: Annotated[
        bool,
        typer.Option(
            help="Load a synthetic utility and play a day of events: the per-customer journeys, a DR "
            "event from a local OpenADR VTN, and outages."
        ),
    ] = True,
    exit_after_demo: Annotated[
        bool,
        typer.Option(help="Exit when the demo is checked: 0 if its journeys reached their expected states."),
    ] = False,
    customers: Annotated[int, typer.Option(min=20, help="Customers in the demo utility.")] = 200,
) -> None:
    """Start the embedded stack (Postgres, Temporal, SMS stand-in, API, workers, router) and the demo."""
    configure_logging(logging.WARNING)
    try:
        code = asyncio.run(
            run_embedded(get_settings(), demo=demo, exit_after_demo=exit_after_demo, customers=customers)
        )
    except (PortBusyError, KeyConfigurationError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    except FileErrors as errors:  # a journey in GRIDJOURNEY_JOURNEYS_DIR that cannot be published
        for problem in errors.errors:  # as text: a message may hold brackets rich would read as markup
            console.print(Text.assemble(("error: ", "red"), str(problem)))
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def worker(
    queues: Annotated[
        str,
        typer.Option(
            help="Comma-separated task queues to serve: journeys (workflows and their activities), "
            "send (provider sends, e.g. a send worker of its own)."
        ),
    ] = "journeys,send",
) -> None:
    """Run the Temporal workers against configured servers (routing is `gridjourney router`'s job)."""
    from gridjourney.stack import QUEUES

    chosen = frozenset(name.strip() for name in queues.split(",") if name.strip())
    if not chosen or not chosen <= QUEUES:
        raise typer.BadParameter(f"{queues!r}: name one or both of {', '.join(sorted(QUEUES))}")
    _serve_side(route=False, queues=chosen)


def router() -> None:
    """Run the projections and the event router against configured servers. Start two or more for
    availability: a Postgres advisory lock elects one to route; the others stand by and take over
    within seconds if it dies. It also runs the journeys' workflows (no activity), so that a journey
    it starts gets its first workflow task at once (eager start)."""
    _serve_side(route=True)


def _serve_side(*, route: bool, queues: frozenset[str] = frozenset({"journeys", "send"})) -> None:
    configure_logging(logging.INFO)
    settings = get_settings()

    async def main() -> None:
        from gridjourney.observability.exposition import serve_metrics
        from gridjourney.stack import connect_when_available, router_side, worker_side
        from gridjourney.temporal import data_converter

        converter = data_converter(settings)
        stop = asyncio.Event()
        install_stop_handlers(stop)
        database_url = resolve_database_url(settings)
        require_current_schema(database_url)
        address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
        client = await connect_when_available(address, settings.temporal_namespace, converter, stop)
        if client is None:
            return
        if route:
            from gridjourney.worker import build_workflow_worker

            async with (
                serve_metrics(settings, database_url),  # settings.metrics_port
                router_side(settings, database_url, client) as routing,
                # journeys the router starts get their first workflow task here, eagerly
                build_workflow_worker(client, settings),
            ):
                await routing.run(stop)
        else:
            async with (
                serve_metrics(settings, database_url),  # settings.metrics_port
                worker_side(settings, database_url, client, route=False, queues=queues) as workers,
            ):
                await workers.run(stop)

    from gridjourney.openadr.ven import VenConfigError  # here: openleadr is slow to import
    from gridjourney.worker import run_worker_process

    try:
        run_worker_process(main())  # on uvloop
    except (KeyConfigurationError, VenConfigError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None


def api() -> None:
    """Serve the HTTP API against configured servers."""
    from gridjourney.api.server import serve_api, serve_api_processes

    configure_logging(logging.INFO)
    settings = get_settings()
    database_url = resolve_database_url(settings)
    require_current_schema(database_url)
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    try:
        with contextlib.suppress(KeyboardInterrupt):
            if settings.api_workers > 1:  # worker processes sharing the port (api/server.py)
                serve_api_processes(settings)
            else:
                asyncio.run(serve_api(settings, database_url, address))
    except (PortBusyError, KeyConfigurationError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None


def local_api_url(settings: Settings) -> str:
    """The embedded API as this process reaches it (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    return f"http://{host}:{settings.api_port}"
