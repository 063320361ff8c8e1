"""Serving a provider stand-in inside the process that uses it: uvicorn on a socket bound first (a
busy port is a clear error naming the setting to change), without uvicorn's signal handlers (the
process that embeds the stand-in owns Ctrl-C). `HotRoute` serves a stand-in's one busy endpoint
without Starlette."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import re
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


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
            interface="asgi3",  # not guessed from the app: a bound method would be taken for ASGI 2
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


@dataclass(frozen=True)
class Reply:
    """A stand-in's answer to a request on its hot route."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] | None = None


def json_reply(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    """JSON as Starlette's JSONResponse writes it (compact, UTF-8)."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})


# The request's headers (names in lower case, the first of a repeated one), the path's match, the body.
HotHandler = Callable[[dict[str, str], re.Match[str], bytes], Awaitable[Reply]]


class HotRoute:
    """ASGI: the endpoint that takes almost all of a stand-in's requests (a message creation, a push)
    answered straight from the ASGI messages, without Starlette's routing, middleware, Request and
    Response objects (about a third of a stand-in's CPU per request); every other request goes on to
    `app`, the stand-in's Starlette app."""

    def __init__(self, app: ASGIApp, method: str, path: str, handler: HotHandler) -> None:
        self.app = app
        self.method = method
        self.path = re.compile(path)
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        match = self.path.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        body = await _body(receive)
        if body is None:
            return  # the client went away
        reply = await self.handler(headers, match, body)
        raw_headers = [(b"content-length", str(len(reply.body)).encode())]
        raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (reply.headers or {}).items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": reply.body})


async def _body(receive: Receive) -> bytes | None:
    """The whole request body (None: the client disconnected first)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
