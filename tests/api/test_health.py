"""GET /healthz against a real Temporal dev server, an unreachable one, and a dead database; and
serve_api over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.server import PortInUse, serve_api
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine


async def healthz(settings: Settings, engine: AsyncEngine, provider: object) -> httpx.Response:
    app = create_app(settings, engine, provider)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        return await http.get("/healthz")


async def test_healthy_when_database_and_temporal_answer(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    async def provider() -> Client:
        return temporal_dev_env.client

    response = await healthz(settings, engine, provider)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["database"]["status"], body["temporal"]["status"]) == ("ok", "ok", "ok")


async def test_unavailable_when_temporal_is_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")  # the client fixture's Temporal address has no server
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["temporal"]["status"] == "unavailable" and body["temporal"]["detail"]


async def test_unavailable_when_the_database_is_down(
    settings: Settings, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    dead = create_engine(f"postgresql://nobody@/gridjourney?host={tmp_path}")  # no server on this socket

    async def provider() -> Client:
        return temporal_dev_env.client

    try:
        response = await healthz(settings, dead, provider)
    finally:
        await dead.dispose()
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "unavailable"
    assert response.json()["temporal"]["status"] == "ok"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serve_api_answers_over_http_and_stops_when_cancelled(
    settings: Settings, database_url: str, temporal_dev_env: WorkflowEnvironment
) -> None:
    settings.api_port = free_port()
    address = temporal_dev_env.client.service_client.config.target_host
    server = asyncio.create_task(serve_api(settings, database_url, address, handle_signals=False))
    url = f"http://127.0.0.1:{settings.api_port}/healthz"
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                response = await http.get(url)
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the API did not start")
    assert response.status_code == 200, response.text
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", settings.api_port))  # the port is free again


async def test_a_busy_port_is_a_clear_error(settings: Settings, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.api_port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"{settings.api_port}.*GRIDJOURNEY_API_PORT"):
            await serve_api(settings, database_url, "127.0.0.1:1")
