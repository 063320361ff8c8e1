"""What the SendGrid tests share: the stand-in's key and a receiver that records signed posts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gridjourney.channels.standin_server import bind_socket

API_KEY = "SG.standin-test-key"


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST (a webhook consumer for tests)."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer with first (then 200)


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    recorded = Receiver()

    async def record(request: Request) -> Response:
        recorded.posts.append(Post(dict(request.headers), await request.body()))
        return Response(status_code=recorded.answers.pop(0) if recorded.answers else 200)

    sock = bind_socket("127.0.0.1", 0)
    recorded.url = f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    app = Starlette(routes=[Route("/events", record, methods=["POST"])])
    server = _Quiet(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield recorded
    finally:
        server.should_exit = True
        await task
