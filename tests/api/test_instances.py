"""Instances end to end: the real Temporal dev server, the real workers, projections and router.

A journey is started by hand through the API, its live state is read through the workflow query,
and it is cancelled; the projection and the timeline show what happened.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.config import Settings
from gridjourney.stack import worker_side
from tests.api.conftest import KeyFactory
from tests.api.test_events import bill_event

YAML = {"Content-Type": "application/yaml"}
JOURNEY = """\
id: api_manual
purpose: informational
trigger: {event: usage.reduced}
steps:
  - id: pause
    wait: 3d
  - id: later
    wait: 1d
"""
# A usage.reduced payload: what the journey's trigger type takes (api/manual_entry.py)
REDUCED = {"kwh_saved": 4.2, "period_days": 7}


@pytest.fixture
async def live_app(
    settings: Settings, engine: AsyncEngine, database_url: str, temporal_dev_env: WorkflowEnvironment
) -> AsyncIterator[FastAPI]:
    """The API with workers, projections and router running on task queues of this test alone."""
    settings.task_queue = f"api-test-{uuid.uuid4().hex[:8]}"
    settings.send_task_queue = settings.task_queue + "-send"

    async def provider() -> Client:
        return temporal_dev_env.client

    stop = asyncio.Event()
    async with worker_side(settings, database_url, temporal_dev_env.client) as workers:
        running = asyncio.create_task(workers.run(stop))
        try:
            yield create_app(settings, engine, provider)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)


@pytest.fixture
async def live(live_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=live_app), base_url="http://api.test"
    ) as http:
        yield http


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = await probe()
        if result:
            return result
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


async def test_start_query_list_and_cancel(live: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await live.post("/v1/journeys", content=JOURNEY, headers=admin | YAML)).status_code == 201
    created = bill_event(type="customer.created", payload={"name": "Ana", "time_zone": "America/Chicago"})
    assert (await live.post("/v1/events", json=created, headers=admin)).status_code == 201

    async def customer_known() -> bool:
        return (await live.get("/v1/customers/C-1", headers=admin)).status_code == 200

    await eventually(customer_known, "the customers projection")
    request = {
        "customer_id": "C-1",
        "payload": REDUCED,
        "request_id": str(uuid.uuid4()),
    }
    started = await live.post("/v1/journeys/api_manual/instances", json=request, headers=admin)
    assert started.status_code == 201, started.text
    instance_id = started.json()["instance_id"]
    assert started.json()["started"] is True and started.json()["version"] == 1

    async def waiting_at_pause() -> dict[str, Any] | None:
        body: dict[str, Any] = (await live.get(f"/v1/instances/{instance_id}", headers=admin)).json()
        live_state = body.get("live") or {}
        return body if live_state.get("current_step") == "pause" and body["projection"] else None

    view = await eventually(waiting_at_pause, "the instance to wait at `pause`")
    assert view["workflow_status"] == "RUNNING" and view["status"] == "active"
    assert view["customer_id"] == "C-1" and view["journey_id"] == "api_manual"
    assert view["live"]["waiting_until"] is not None

    again = await live.post("/v1/journeys/api_manual/instances", json=request, headers=admin)
    assert again.status_code == 200 and again.json()["started"] is False

    listing = (await live.get("/v1/journeys/api_manual/instances", headers=admin)).json()
    assert [i["instance_id"] for i in listing["items"]] == [instance_id]

    cancelled = await live.post(f"/v1/instances/{instance_id}/cancel", headers=admin)
    assert cancelled.status_code == 202, cancelled.text

    async def exited() -> dict[str, Any] | None:
        body: dict[str, Any] = (await live.get(f"/v1/instances/{instance_id}", headers=admin)).json()
        row = body["projection"] or {}
        return body if row.get("status") == "exited" else None

    view = await eventually(exited, "the cancelled instance to be recorded as exited")
    assert view["workflow_status"] != "RUNNING"
    assert (await live.post(f"/v1/instances/{instance_id}/cancel", headers=admin)).status_code == 409
    timeline = (await live.get("/v1/customers/C-1/timeline", headers=admin)).json()["items"]
    lines = [item["line"] for item in timeline]
    assert "entered journey api_manual (version 1)" in lines
    assert any(line.startswith("left journey api_manual") for line in lines)


async def test_unknown_ids(live: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await live.get("/v1/instances/journey:nope:C-9:x", headers=admin)).status_code == 404
    assert (await live.post("/v1/instances/journey:nope:C-9:x/cancel", headers=admin)).status_code == 404
    unknown_journey = await live.post(
        "/v1/journeys/nope/instances", json={"customer_id": "C-1"}, headers=admin
    )
    assert unknown_journey.status_code == 404
    assert (await live.post("/v1/journeys", content=JOURNEY, headers=admin | YAML)).status_code == 201
    unknown_customer = await live.post(
        "/v1/journeys/api_manual/instances", json={"customer_id": "C-9", "payload": REDUCED}, headers=admin
    )
    assert unknown_customer.status_code == 404
    assert unknown_customer.json()["errors"][0]["field"] == "customer_id"


async def test_starting_without_temporal_is_503(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/v1/journeys/api_manual/instances", json={"customer_id": "C-1"}, headers=admin
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_only_journey_workflows_are_instances(
    live: httpx.AsyncClient, make_key: KeyFactory, temporal_dev_env: WorkflowEnvironment
) -> None:
    """The scoring schedule's runs (and any workflow that is not a journey or a cohort run, even under
    a journey-like or cohort-like id) can be neither read nor cancelled through the instance endpoints."""
    writer = await make_key("journeys:read", "journeys:write")
    client = temporal_dev_env.client
    queue = f"nobody-{uuid.uuid4().hex[:8]}"  # no worker polls it: the workflows stay running
    others = [
        f"daily-scoring-{uuid.uuid4().hex[:8]}",
        f"journey:fake:C-1:{uuid.uuid4().hex[:8]}",
        f"cohort:fake:{uuid.uuid4().hex[:8]}",
    ]
    handles = [await client.start_workflow("ScoringWorkflow", id=other, task_queue=queue) for other in others]
    try:
        for other in others:
            read = await live.get(f"/v1/instances/{other}", headers=writer)
            assert read.status_code == 404, read.text
            assert read.headers["content-type"].startswith("application/problem+json")
            cancel = await live.post(f"/v1/instances/{other}/cancel", headers=writer)
            assert cancel.status_code == 404, cancel.text
        for handle in handles:
            description = await handle.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING
            history = [event async for event in handle.fetch_history_events()]
            assert not any(
                event.HasField("workflow_execution_cancel_requested_event_attributes") for event in history
            )
    finally:
        for handle in handles:
            await handle.terminate("test over")
