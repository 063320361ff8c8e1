"""The API as its own process, as production runs it: uvicorn with 1..N workers over an app factory
that reads the same environment as `gridjourney api` (GRIDJOURNEY_DATABASE_URL and the rest).

`BENCH_API_PROFILE=<path>` makes the process profile itself (cProfile) and write its stats to
<path>.<pid> at exit: one file per uvicorn worker.
"""

from __future__ import annotations

import cProfile
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridjourney.api.server import app_from_environment

PROFILE_ENV = "BENCH_API_PROFILE"
READY_TIMEOUT_S = 180.0  # a loaded machine starts two workers slowly


def app() -> ASGIApp:
    """The uvicorn factory (`uvicorn --factory bench.api_process:app`): `gridjourney api`'s own."""
    served = app_from_environment()
    profile_to = os.environ.get(PROFILE_ENV)
    return served if not profile_to else profiled(served, Path(f"{profile_to}.{os.getpid()}"))


def profiled(served: ASGIApp, stats: Path) -> ASGIApp:
    """`served`, profiled from now until its lifespan's shutdown, when the stats are written (uvicorn's
    worker processes end with os._exit: atexit would never run)."""
    profiler = cProfile.Profile()
    profiler.enable()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return await served(scope, receive, send)

        async def send_and_save(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                profiler.disable()
                profiler.dump_stats(stats)
            await send(message)

        return await served(scope, receive, send_and_save)

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ApiProcess:
    """`python -m uvicorn --factory bench.api_process:app --workers N` on a free loopback port."""

    def __init__(self, env: Mapping[str, str], workers: int, log: Path) -> None:
        self.env = dict(env)
        self.workers = workers
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", "bench.api_process:app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        # Keep-alive beyond the loaded machine's pauses: a connection closed as the client reuses it fails.
        command += ["--log-level", "warning", "--no-access-log", "--timeout-keep-alive", "60"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1]
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the API process exited at start-up:\n{tail}")
            try:
                # An unauthenticated write is refused at once (401) without touching Temporal.
                if (
                    httpx.post(f"{self.url}/v1/events", json={}, timeout=2).status_code == 401
                    and self._ready()
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API never answered on {self.url}: see {self.log}")

    def _ready(self) -> bool:
        return self.workers == 1 or len(self.tree()) > self.workers  # the supervisor and its workers

    def tree(self) -> list[psutil.Process]:
        """The uvicorn process and its workers (a multiprocessing helper among them, with 2+)."""
        if self.process is None:
            return []
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
