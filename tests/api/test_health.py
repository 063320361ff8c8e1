"""GET /healthz against a real Temporal dev server, an unreachable one, and a dead database (reason
codes, never error text); degraded by lagging subscriptions and dead letters; and serve_api over real
HTTP."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.api.server import PortInUse, serve_api
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.tables import events
from gridjourney.events import dead_letters
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import set_checkpoint
from tests.events.builders import usage
from tests.ports import free_port


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
    assert (body["subscriptions"]["status"], body["reasons"]) == ("ok", [])


async def test_unavailable_when_temporal_is_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")  # the client fixture's Temporal address has no server
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["reasons"]) == ("unavailable", ["temporal_unreachable"])
    assert body["database"]["status"] == "ok"
    assert body["temporal"] == {"status": "unavailable", "reasons": ["temporal_unreachable"]}
    assert "127.0.0.1" not in response.text and "Error" not in response.text  # no exception text


def served_by(env: WorkflowEnvironment) -> TemporalClientProvider:
    async def provide() -> Client:
        return env.client

    return provide


async def test_degraded_while_a_subscription_holds_dead_letters(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    [event] = await append_usage(engine, 1)
    async with engine.begin() as conn:
        await dead_letters.record(conn, "projections", event, "KeyError: 'x'", 3)
        await set_checkpoint(conn, "projections", event.position)
        await set_checkpoint(conn, "router", event.position)

    response = await healthz(settings, engine, served_by(temporal_dev_env))
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["reasons"]) == ("degraded", ["dead_letters"])
    assert body["subscriptions"] == {"status": "degraded", "reasons": ["dead_letters"]}
    assert "KeyError" not in response.text


@pytest.mark.parametrize("by", ["positions", "seconds"])
async def test_degraded_while_a_subscription_lags_beyond_the_threshold(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, by: str
) -> None:
    await append_usage(engine, 3)  # nothing has handled them: both subscriptions lag by 3 events
    provider = served_by(temporal_dev_env)
    settings.health_max_lag_positions, settings.health_max_lag_seconds = 3, 3600.0
    assert (await healthz(settings, engine, provider)).status_code == 200  # within both thresholds

    if by == "positions":
        settings.health_max_lag_positions = 2
    else:
        async with engine.begin() as conn:  # the oldest unhandled event waits for an hour
            await conn.execute(update(events).values(recorded_at=func.now() - timedelta(hours=1)))
    response = await healthz(settings, engine, provider)
    assert response.status_code == 503
    assert (response.json()["status"], response.json()["reasons"]) == ("degraded", ["subscription_lagging"])


async def append_usage(engine: AsyncEngine, count: int) -> list[StoredEvent]:
    await EventStore(engine).append([usage() for _ in range(count)])
    return await EventStore(engine).read_after(0)


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
    body = response.json()
    assert (body["status"], body["reasons"]) == ("unavailable", ["database_unreachable"])
    assert body["temporal"]["status"] == "ok" and body["subscriptions"]["status"] == "unknown"
    assert str(tmp_path) not in response.text and "Error" not in response.text


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
