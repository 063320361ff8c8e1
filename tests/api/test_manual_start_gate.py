"""A manual start (POST /v1/journeys/{id}/instances) and a retirement at the same moment (real Postgres
and the Temporal dev server): the start reads whether the journey is retired inside the start gate,
with the start (router/start_gate.py), so a retirement stored in between waits for it; once the
retirement has returned, no manual start starts a run of the journey."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.entry.enter import enter_journey
from gridjourney.entry.starter import StartResult
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router import start_gate
from tests.api.test_events import bill_event
from tests.api.test_instances_manual_start import BILL_WATCH

YAML = {"Content-Type": "application/yaml"}
PAYLOAD = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12}


@pytest.fixture
async def http(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, admin: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the dev server with a task queue nobody serves, and customer C-1 known."""
    settings.task_queue = settings.send_task_queue = f"gate-{uuid.uuid4().hex[:8]}"

    async def provider() -> Client:
        return temporal_dev_env.client

    app = create_app(settings, engine, provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        created = bill_event(type="customer.created", payload={"name": "Ana"})
        assert (await client.post("/v1/events", json=created, headers=admin)).status_code == 201
        await ProjectionRunner(engine).catch_up()
        yield client


async def test_a_retirement_waits_for_a_manual_start_in_flight_and_later_starts_are_refused(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await http.post("/v1/journeys", content=BILL_WATCH, headers=admin | YAML)).status_code == 201
    reached, go = asyncio.Event(), asyncio.Event()

    async def enter_when_told(*args: Any, **kwargs: Any) -> StartResult:
        """The start, stopped after the request read the journey as active: the moment a retirement
        used to slip through."""
        reached.set()
        await go.wait()
        return await enter_journey(*args, **kwargs)

    monkeypatch.setattr("gridjourney.api.routes.journeys.enter_journey", enter_when_told)

    def start() -> asyncio.Task[httpx.Response]:
        body = {"customer_id": "C-1", "payload": PAYLOAD, "request_id": str(uuid.uuid4())}
        return asyncio.create_task(http.post("/v1/journeys/bill_watch/instances", json=body, headers=admin))

    order: list[str] = []
    starting = start()
    starting.add_done_callback(lambda _: order.append("start returned"))
    await reached.wait()
    retiring = asyncio.create_task(start_gate.retire_journey(engine, "bill_watch", "marketer"))
    retiring.add_done_callback(lambda _: order.append("retire returned"))
    await asyncio.wait({retiring}, timeout=1.0)  # time for a retirement that does not wait
    go.set()
    started, retired = await starting, await retiring
    assert started.status_code == 201, started.text
    assert retired is not None and retired[1] is True
    assert order == ["start returned", "retire returned"]  # the run started before the retirement

    refused = await start()  # after the retirement: nothing starts
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("journey-retired")
    assert await registry.retirement(engine, "bill_watch") is not None
