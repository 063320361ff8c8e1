"""A manual start (POST /v1/journeys/{id}/instances) takes a payload its trigger event type admits, and
only for a journey that runs per customer.

The API over real Postgres and the Temporal dev server, on a task queue no worker serves: a started
run only has to exist, and its start input shows the trigger payload the run's steps will read.
"""

from __future__ import annotations

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
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.contracts import JourneyInput
from tests.api.test_events import bill_event

YAML = {"Content-Type": "application/yaml"}
# Its steps read the trigger's fields: a manual start without them used to fail at the first read.
BILL_WATCH = """\
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
entry: {reentry: every_trigger}
steps:
  - id: route
    branch:
      - when: "event.projected_amount >= 1.3 * event.typical_amount and event.days_left >= 7"
        goto: pause
      - goto: end
  - id: pause
    wait: 1d
"""
# Several triggers: `event` in the steps has the fields they share.
EITHER = """\
id: either
purpose: informational
trigger: [bill.issued, usage.reduced]
entry: {reentry: every_trigger}
steps:
  - id: pause
    wait: 1d
"""
COHORT = """\
id: precool
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {where: "True"}
steps:
  - id: pause
    wait: 1h
"""
SCHEDULED = """\
id: winter_tips
purpose: informational
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: "True"
steps:
  - id: pause
    wait: 1d
"""


@pytest.fixture
async def http(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, admin: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the dev server with a task queue nobody serves, and customer C-1 known."""
    settings.task_queue = settings.send_task_queue = f"manual-{uuid.uuid4().hex[:8]}"

    async def provider() -> Client:
        return temporal_dev_env.client

    app = create_app(settings, engine, provider)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        created = bill_event(type="customer.created", payload={"name": "Ana"})
        assert (await client.post("/v1/events", json=created, headers=admin)).status_code == 201
        await ProjectionRunner(engine).catch_up()
        yield client


async def _start(
    http: httpx.AsyncClient, headers: dict[str, str], journey_id: str, **body: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/journeys/{journey_id}/instances", json={"customer_id": "C-1", **body}, headers=headers
    )


async def _trigger_payload(client: Client, instance_id: str) -> dict[str, Any]:
    """The trigger payload the run was started with (its first history event's input)."""
    history = await client.get_workflow_handle(instance_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (journey_input,) = await client.data_converter.decode(started.input.payloads, [JourneyInput])
    assert isinstance(journey_input, JourneyInput)
    return journey_input.trigger.payload


async def test_the_payload_must_be_one_of_the_trigger_type(
    http: httpx.AsyncClient, admin: dict[str, str], temporal_dev_env: WorkflowEnvironment
) -> None:
    assert (await http.post("/v1/journeys", content=BILL_WATCH, headers=admin | YAML)).status_code == 201

    missing = await _start(http, admin, "bill_watch")
    assert missing.status_code == 422, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in missing.json()["errors"]}
    assert fields == {"payload.projected_amount", "payload.typical_amount", "payload.days_left"}
    assert "bill.projection_updated" in missing.json()["detail"]

    # the field limits of POST /v1/events: an unknown field, a value out of range, an oversized string
    wrong = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 400, "note": "x"}
    refused = await _start(http, admin, "bill_watch", payload=wrong | {"currency": "U" * 20_000})
    assert refused.status_code == 422, refused.text
    fields = {error["field"] for error in refused.json()["errors"]}
    assert fields == {"payload.days_left", "payload.note", "payload.currency"}
    assert "U" * 100 not in refused.text

    good = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12}
    started = await _start(http, admin, "bill_watch", payload=good)
    assert started.status_code == 201, started.text
    payload = await _trigger_payload(temporal_dev_env.client, started.json()["instance_id"])
    # stored as the type stores it: the optional fields are there (null or their default)
    assert payload["projected_amount"] == 182.4 and payload["currency"] == "USD"
    assert payload["projected_amount_low"] is None and payload["entered_by"] == "test"


async def test_of_several_triggers_the_first_type_that_admits_the_payload(
    http: httpx.AsyncClient, admin: dict[str, str], temporal_dev_env: WorkflowEnvironment
) -> None:
    assert (await http.post("/v1/journeys", content=EITHER, headers=admin | YAML)).status_code == 201
    neither = await _start(http, admin, "either", payload={"kwh_saved": 3.5})
    assert neither.status_code == 422, neither.text
    reasons = [(error["field"], error["reason"].split(":")[0]) for error in neither.json()["errors"]]
    assert ("payload.amount", "as bill.issued") in reasons
    assert ("payload.period_days", "as usage.reduced") in reasons
    started = await _start(http, admin, "either", payload={"kwh_saved": 3.5, "period_days": 7})
    assert started.status_code == 201, started.text
    payload = await _trigger_payload(temporal_dev_env.client, started.json()["instance_id"])
    assert payload["kwh_saved"] == 3.5 and payload["period_days"] == 7


async def test_cohort_and_scheduled_journeys_are_not_started_per_customer(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, settings: Settings
) -> None:
    assert (await http.post("/v1/journeys", content=COHORT, headers=admin | YAML)).status_code == 201
    # stored without its Temporal Schedule: this test asks only what a manual start does with it
    await registry.publish(engine, SCHEDULED, "winter_tips.yaml", settings.templates_dir)
    cohort = await _start(http, admin, "precool", payload={"dr_event_id": "HW-1"})
    assert cohort.status_code == 409, cohort.text
    assert cohort.headers["content-type"] == "application/problem+json"
    assert "dr.event_scheduled" in cohort.json()["detail"] and "POST /v1/events" in cohort.json()["detail"]
    scheduled = await _start(http, admin, "winter_tips")
    assert scheduled.status_code == 409, scheduled.text
    assert "--schedule-id journey-schedule:<task queue>:winter_tips" in scheduled.json()["detail"]
    listing = (await http.get("/v1/journeys/precool/instances", headers=admin)).json()
    assert listing["items"] == []
