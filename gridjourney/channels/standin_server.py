"""Serving a provider stand-in inside the process that uses it: uvicorn on a socket bound first (a
busy port is a clear error naming the setting to change), without uvicorn's signal handlers (the
process that embeds the stand-in owns Ctrl-C)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class StandInPortBusy(OSError):
    """The stand-in's port is taken by another process."""


KEEP_ALIVE_SECONDS = 75


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(
    host: str, port: int, what: str = "the stand-in", setting: str | None = None
) -> socket.socket:
    """Bind first, so that a busy port is a clear error rather than a uvicorn exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            choose = f"choose another port ({setting})" if setting else "choose another port"
            raise StandInPortBusy(
                errno.EADDRINUSE,
                f"port {port} on {host} is already in use, so {what} cannot start; "
                f"stop the other process or {choose}",
            ) from error
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServedApp:
    """One ASGI app served on one port until stopped."""

    def __init__(self, app: ASGIApp, *, what: str, setting: str) -> None:
        self.app = app
        self.what = what
        self.setting = setting
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, host: str, port: int) -> int:
        """Serve on host:port (0: a free port); the port bound."""
        if self._server is not None:
            raise RuntimeError(f"{self.what} is already running")
        sock = bind_socket(host, port, self.what, self.setting)
        # Idle connections kept longer than any client keeps them (aiohttp: 15 s): otherwise a
        # client reuses one the stand-in is closing, and a send fails as "interrupted" for nothing.
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            http="httptools",  # the C parser (uvicorn's "auto" falls back to h11 without a word)
            proxy_headers=False,  # nothing stands before a stand-in: no X-Forwarded-* to read per request
        )
        server = EmbeddedServer(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name=self.what)
        while not server.started:
            if self._task.done():
                self._server = None
                await self._task  # surfaces the startup error
                raise RuntimeError(f"{self.what} stopped during startup")
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server, self._task = None, None
