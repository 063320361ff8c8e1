"""The session provider calls go through: no timeouts of its own, no cookies kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gridjourney.channels.provider_http import provider_session


async def cookie_echo(request: web.Request) -> web.Response:
    """Sets a cookie on every answer and tells which cookie the request carried."""
    response = web.Response(text=request.headers.get("Cookie", "no cookie"))
    response.set_cookie("session", "abc")
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(0.3)
    return web.Response(text="late")


@pytest.fixture
async def provider() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/cookie", cookie_echo)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_cookie_the_provider_sets_is_not_sent_back(provider: str) -> None:
    async with provider_session("twilio") as session:
        for _ in range(2):
            async with session.get(f"{provider}/cookie") as answer:
                assert await answer.text() == "no cookie"
                assert answer.cookies["session"].value == "abc"  # it was set, and dropped


async def test_the_callers_deadline_is_the_only_one(provider: str) -> None:
    async with provider_session("twilio") as session:
        assert session.timeout.total is None and session.timeout.sock_connect is None
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await session.get(f"{provider}/slow")
        async with session.get(f"{provider}/slow") as answer:  # without one, it waits
            assert await answer.text() == "late"
