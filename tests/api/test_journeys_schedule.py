"""POST /v1/journeys sets a scheduled journey's Temporal Schedule at once (the real dev server: the
time-skipping server has no Schedules), deletes it when a new version drops the trigger, and answers
503 (the journey stored) when Temporal cannot be reached; other journeys never need Temporal."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.deps import TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.schedules.sync import schedule_id
from tests.api.conftest import KeyFactory
from tests.files import write_files

SCHEDULED = """\
id: winter_tips
purpose: marketing
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: "customer.heating == 'electric'"
steps:
  - id: tips
    send: {channels: [sms], template: winter_tips}
"""
ON_AN_EVENT = SCHEDULED.replace(
    """  schedule: {month: november, day: 1, at: "10:00"}
  audience: "customer.heating == 'electric'"
""",
    "  - {event: bill.issued}\n",
)
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_files(tmp_path / "templates", {"sms/en/winter_tips.j2": "Winter is coming: seal your windows."})
    return Settings(
        home=tmp_path / "home",
        templates_dir=tmp_path / "templates",
        task_queue=f"publish-{uuid.uuid4().hex[:8]}",
    )


async def publish(client: httpx.AsyncClient, headers: dict[str, str], source: str) -> httpx.Response:
    return await client.post("/v1/journeys", content=source, headers={**headers, **YAML})


async def schedule_exists(client: Client, settings: Settings) -> bool:
    try:
        await client.get_schedule_handle(schedule_id(settings.task_queue, "winter_tips")).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


class TestWithTemporal:
    @pytest.fixture
    def temporal_provider(self, temporal_dev_env: WorkflowEnvironment) -> TemporalClientProvider:
        async def provide() -> Client:
            return temporal_dev_env.client

        return provide

    async def test_publishing_sets_the_schedule_and_a_version_without_the_trigger_deletes_it(
        self,
        client: httpx.AsyncClient,
        make_key: KeyFactory,
        settings: Settings,
        temporal_dev_env: WorkflowEnvironment,
    ) -> None:
        headers = await make_key("journeys:write")
        response = await publish(client, headers, SCHEDULED)
        assert response.status_code == 201, response.text
        assert response.json()["schedule"] == "created"
        assert await schedule_exists(temporal_dev_env.client, settings)

        again = await publish(client, headers, SCHEDULED)
        assert (again.status_code, again.json()["schedule"]) == (200, "unchanged")

        dropped = await publish(client, headers, ON_AN_EVENT)
        assert dropped.status_code == 201, dropped.text
        assert (dropped.json()["version"], dropped.json()["schedule"]) == (2, "deleted")
        assert not await schedule_exists(temporal_dev_env.client, settings)


async def test_temporal_down_stores_the_journey_and_says_how_to_set_its_schedule(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = await make_key("journeys:write", "journeys:read")
    response = await publish(client, headers, SCHEDULED)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "publish the same file again" in response.json()["detail"]
    stored = await client.get("/v1/journeys/winter_tips", headers=headers)
    assert stored.status_code == 200 and stored.json()["latest"]["version"] == 1

    plain = await publish(client, headers, ON_AN_EVENT.replace("winter_tips\npurpose", "plain\npurpose"))
    assert plain.status_code == 201, plain.text
    assert plain.json()["schedule"] is None
