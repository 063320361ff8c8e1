"""POST /v1/journeys/{id}/retire and /reinstate over a real Postgres: idempotent, 404 for a journey
never published, `journeys:write` (a safety journey: `admin`), and a manual start of a retired
journey is 409 naming the state; a scheduled journey's schedule needs Temporal (503 when it cannot be
reached, the state stored: the same request again finishes it); `cancel_running` cancels the runs
going (the Temporal dev server)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.deps import TemporalClientProvider
from gridjourney.api.manual_entry import require_active
from gridjourney.api.problems import ApiProblem
from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from tests.api.conftest import KeyFactory
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router import _entered_instances
from tests.workflows.standins import TASK_QUEUE, StandIns, running_workers

MISTAKE = """\
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - {id: pause, wait: 3d}
"""
SAFETY = """\
id: outage_watch
purpose: safety
trigger: {event: outage.detected}
steps:
  - {id: pause, wait: 3d}
"""
SCHEDULED = """\
id: winter_tips
purpose: marketing
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: "customer.heating == 'electric'"
steps:
  - {id: pause, wait: 3d}
"""


async def test_retire_and_reinstate_are_idempotent(
    client: httpx.AsyncClient, engine: AsyncEngine, make_key: KeyFactory
) -> None:
    await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)
    writer = await make_key("journeys:write")

    retired = await client.post("/v1/journeys/bill_watch/retire", headers=writer)
    assert retired.status_code == 200, retired.text
    body = retired.json()
    assert (body["state"], body["changed"], body["retired_by"], body["schedule"]) == (
        "retired",
        True,
        "test",
        None,
    )
    assert "runs already going carry on" in body["note"] and "stays retired" in body["note"]
    again = (await client.post("/v1/journeys/bill_watch/retire", headers=writer)).json()
    assert (again["state"], again["changed"], again["retired_at"]) == ("retired", False, body["retired_at"])
    assert await registry.all_latest(engine) == []

    reinstated = (await client.post("/v1/journeys/bill_watch/reinstate", headers=writer)).json()
    assert (reinstated["state"], reinstated["changed"], reinstated["retired_at"]) == ("active", True, None)
    again = (await client.post("/v1/journeys/bill_watch/reinstate", headers=writer)).json()
    assert (again["state"], again["changed"]) == ("active", False)
    assert [journey.journey_id for journey in await registry.all_latest(engine)] == ["bill_watch"]


@pytest.mark.parametrize("action", ["retire", "reinstate"])
async def test_an_unknown_journey_is_404(
    client: httpx.AsyncClient, make_key: KeyFactory, action: str
) -> None:
    response = await client.post(
        f"/v1/journeys/no_such_journey/{action}", headers=await make_key("journeys:write")
    )
    assert response.status_code == 404
    assert "no_such_journey" in response.json()["detail"]


async def test_the_scope_is_journeys_write_and_admin_for_a_safety_journey(
    client: httpx.AsyncClient, engine: AsyncEngine, make_key: KeyFactory, admin: dict[str, str]
) -> None:
    await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)
    await registry.publish(engine, SAFETY, "outage_watch.yaml", None)
    reader = await make_key("journeys:read")
    assert (await client.post("/v1/journeys/bill_watch/retire", headers=reader)).status_code == 403
    assert (await client.post("/v1/journeys/bill_watch/retire")).status_code == 401

    writer = await make_key("journeys:write")
    refused = await client.post("/v1/journeys/outage_watch/retire", headers=writer)
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    assert await registry.retirement(engine, "outage_watch") is None  # nothing changed
    assert (await client.post("/v1/journeys/outage_watch/retire", headers=admin)).json()["state"] == "retired"
    assert (await client.post("/v1/journeys/outage_watch/reinstate", headers=writer)).status_code == 403
    assert (await client.post("/v1/journeys/outage_watch/reinstate", headers=admin)).json()["changed"] is True


async def test_a_manual_start_of_a_retired_journey_is_409_naming_the_state(engine: AsyncEngine) -> None:
    await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)
    await require_active(engine, "bill_watch")  # active: no objection
    await registry.retire(engine, "bill_watch", "marketer")
    with pytest.raises(ApiProblem) as refused:
        await require_active(engine, "bill_watch")
    problem = refused.value
    assert (problem.status, problem.slug, problem.extensions) == (
        409,
        "journey-retired",
        {"state": "retired"},
    )
    assert problem.detail is not None and "retired" in problem.detail and "reinstate" in problem.detail
    await registry.reinstate(engine, "bill_watch")
    await require_active(engine, "bill_watch")


async def test_a_scheduled_journey_without_temporal_is_503_with_the_state_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, make_key: KeyFactory
) -> None:
    await registry.publish(engine, SCHEDULED, "winter_tips.yaml", None)
    response = await client.post("/v1/journeys/winter_tips/retire", headers=await make_key("journeys:write"))
    assert response.status_code == 503  # the fixture's Temporal cannot be reached
    assert "send the same request again" in response.json()["detail"]
    assert await registry.retirement(engine, "winter_tips") is not None


class TestWithTemporal:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        # the queue the test router starts journeys on: the runs cancelled are this deployment's
        return Settings(home=tmp_path / "home", templates_dir=tmp_path / "templates", task_queue=TASK_QUEUE)

    @pytest.fixture
    def temporal_provider(self, temporal_dev_env: WorkflowEnvironment) -> TemporalClientProvider:
        async def provide() -> Client:
            return temporal_dev_env.client

        return provide

    async def test_cancel_running_cancels_the_runs_going(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        make_key: KeyFactory,
        temporal_dev_env: WorkflowEnvironment,
    ) -> None:
        temporal = temporal_dev_env.client
        customer = f"c-{uuid.uuid4().hex[:8]}"
        journey_id = f"cancel_api_{uuid.uuid4().hex[:8]}"  # the dev server is shared by the session's tests
        await registry.publish(engine, MISTAKE.replace("bill_watch", journey_id), f"{journey_id}.yaml", None)
        store = EventStore(engine)
        projection = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}
        await store.append([new_event("customer.created", customer, {"name": "Ana"})])
        await store.append([new_event("bill.projection_updated", customer, projection)])
        await ProjectionRunner(engine).catch_up()
        writer = await make_key("journeys:write")
        standins = StandIns()
        async with running_workers(temporal, standins):
            await router_on_test_queues(engine, temporal).handle(await store.read_after(0))
            [running] = await _entered_instances(customer, standins)

            # without cancel_running the run carries on
            carried = (await client.post(f"/v1/journeys/{journey_id}/retire", headers=writer)).json()
            assert carried["cancelled"] is None and "carry on" in carried["note"]
            handle = temporal.get_workflow_handle(running)
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

            for _ in range(100):  # Temporal's list shows a new run after a moment: ask again, as a caller may
                response = await client.post(
                    f"/v1/journeys/{journey_id}/retire", headers=writer, json={"cancel_running": True}
                )
                assert response.status_code == 200, response.text
                if response.json()["cancelled"]:
                    break
                await asyncio.sleep(0.1)
            assert response.json()["cancelled"] == [running]
            assert "were cancelled" in response.json()["note"]
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    async def test_the_state_shows_in_the_journeys_and_a_manual_start_is_409(
        self, client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
    ) -> None:
        await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)
        assert (await client.post("/v1/journeys/bill_watch/retire", headers=admin)).status_code == 200
        listed = (await client.get("/v1/journeys", headers=admin)).json()["items"]
        assert [(j["journey_id"], j["state"]) for j in listed] == [("bill_watch", "retired")]
        detail = (await client.get("/v1/journeys/bill_watch", headers=admin)).json()
        assert detail["latest"]["state"] == "retired" and detail["latest"]["retired_at"] is not None

        started = await client.post(
            "/v1/journeys/bill_watch/instances", headers=admin, json={"customer_id": "C-1"}
        )
        assert started.status_code == 409, started.text
        assert (started.json()["state"], "reinstate" in started.json()["detail"]) == ("retired", True)

        published = await client.post(
            "/v1/journeys",
            content=MISTAKE.replace("3d", "4d"),
            headers={**admin, "Content-Type": "application/yaml"},
        )
        assert (published.status_code, published.json()["version"], published.json()["state"]) == (
            201,
            2,
            "retired",
        )

        assert (await client.post("/v1/journeys/bill_watch/reinstate", headers=admin)).status_code == 200
        listed = (await client.get("/v1/journeys", headers=admin)).json()["items"]
        assert [(j["journey_id"], j["version"], j["state"]) for j in listed] == [("bill_watch", 2, "active")]
