"""The stand-ins' embedded server: idle connections outlive a client's own keep-alive."""

from __future__ import annotations

import asyncio

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridjourney.channels.standin_server import ServedApp


async def test_a_connection_idle_longer_than_uvicorns_default_is_reused_not_reset() -> None:
    async def peer(request: Request) -> JSONResponse:
        assert request.client is not None
        return JSONResponse({"port": request.client.port})

    served = ServedApp(Starlette(routes=[Route("/", peer, methods=["POST"])]), what="a test app", setting="-")
    port = await served.start("127.0.0.1", 0)
    try:
        # aiohttp keeps an idle connection 15 s; uvicorn's default closes it after 5 s, and a send
        # in between wrote to a closing socket ("Cannot write to closing transport").
        connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=15)
        async with aiohttp.ClientSession(connector=connector) as session:
            ports = []
            for _ in range(2):
                async with session.post(f"http://127.0.0.1:{port}/", data=b"x") as answer:
                    assert answer.status == 200
                    ports.append((await answer.json())["port"])
                await asyncio.sleep(6)
        assert ports[0] == ports[1]  # one connection, still open after 6 idle seconds
    finally:
        await served.stop()
