"""The stand-ins' embedded server: idle connections outlive a client's own keep-alive; a hot route
answers its endpoint itself and hands every other request to the app behind it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridjourney.channels.standin_server import HotRoute, Reply, ServedApp, json_reply


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


async def test_a_hot_route_answers_its_endpoint_and_passes_on_the_rest() -> None:
    seen: list[tuple[dict[str, str], str, bytes]] = []

    async def hot(headers: dict[str, str], path: re.Match[str], body: bytes) -> Reply:
        seen.append((headers, path["id"], body))
        if body == b"refuse":
            return json_reply({"error": "refused"}, 400, {"x-reason": "asked"})
        return Reply(201, headers={"location": f"/m/{path['id']}"})

    async def other(request: Request) -> JSONResponse:
        return JSONResponse({"method": request.method, "path": request.url.path})

    routes = [Route("/push/{id}", other, methods=["GET"]), Route("/other", other, methods=["POST"])]
    behind = Starlette(routes=routes)
    served = ServedApp(HotRoute(behind, "POST", "/push/(?P<id>[^/]+)", hot), what="a test app", setting="-")
    port = await served.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            # a body sent in chunks arrives whole; repeated headers: the first one counts
            chunks = [b"abc", b"def"]

            async def chunked() -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            headers = [("TTL", "60"), ("X-Twice", "first"), ("X-Twice", "second")]
            async with session.post(f"{base}/push/s1", data=chunked(), headers=headers) as answer:
                assert (answer.status, answer.headers["Location"], await answer.read()) == (201, "/m/s1", b"")
            async with session.post(f"{base}/push/s2", data=b"refuse") as answer:
                assert answer.status == 400
                assert answer.headers["Content-Type"] == "application/json"
                assert answer.headers["X-Reason"] == "asked"
                assert await answer.json() == {"error": "refused"}
            for method, path in (("GET", "/push/s3"), ("POST", "/other"), ("POST", "/push/a/b")):
                async with session.request(method, f"{base}{path}") as answer:
                    expected = 404 if path == "/push/a/b" else 200
                    assert answer.status == expected, path
                    if expected == 200:
                        assert await answer.json() == {"method": method, "path": path}
        assert [(h["ttl"], h["x-twice"], i, b) for h, i, b in seen[:1]] == [("60", "first", "s1", b"abcdef")]
        assert [i for _, i, _ in seen] == ["s1", "s2"]
    finally:
        await served.stop()
