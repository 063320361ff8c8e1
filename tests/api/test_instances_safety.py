"""Cancelling a run of a safety journey needs `admin`, as publishing, starting and retiring one do: a
`journeys:write` key stopping an outage's run would take the restoration notice from every member.
The real Temporal dev server, workers, projections and router (the fixtures of test_instances.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import KeyFactory
from tests.api.test_events import bill_event
from tests.api.test_instances import YAML, eventually, live, live_app  # noqa: F401 (fixtures)


def journey(journey_id: str, purpose: str, cohort: bool) -> str:
    mode = 'mode: cohort\ncohort:\n  key: event.incident_id\n  audience: {where: "True"}\n' if cohort else ""
    return (
        f"id: {journey_id}\npurpose: {purpose}\n{mode}trigger: {{event: outage.detected}}\n"
        "steps:\n  - {id: pause, wait: 3d}\n"
    )


def outage(incident_id: str) -> dict[str, Any]:
    event = bill_event(
        type="outage.detected",
        occurred_at=datetime.now(UTC).isoformat(),
        source="oms",
        payload={"incident_id": incident_id, "premise_ids": ["P-1"]},
    )
    del event["customer_id"]
    return event


async def running(temporal: WorkflowEnvironment, run_id: str) -> bool:
    description = await temporal.client.get_workflow_handle(run_id).describe()
    return description.status == WorkflowExecutionStatus.RUNNING


async def test_a_safety_run_is_cancelled_by_admin_only(
    live: httpx.AsyncClient,  # noqa: F811 (the fixture)
    admin: dict[str, str],
    make_key: KeyFactory,
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    writer = await make_key("journeys:read", "journeys:write")
    suffix = uuid.uuid4().hex[:6]
    safety, plain = f"outage_watch_{suffix}", f"outage_tips_{suffix}"
    for journey_id, purpose in ((safety, "safety"), (plain, "informational")):
        published = await live.post(
            "/v1/journeys", content=journey(journey_id, purpose, False), headers=admin | YAML
        )
        assert published.status_code == 201, published.text
    created = bill_event(type="customer.created", payload={"name": "Ana"})
    assert (await live.post("/v1/events", json=created, headers=admin)).status_code == 201

    async def customer_known() -> bool:
        return (await live.get("/v1/customers/C-1", headers=admin)).status_code == 200

    await eventually(customer_known, "the customers projection")
    started: dict[str, str] = {}
    for journey_id in (safety, plain):
        request = {"customer_id": "C-1", "payload": {"incident_id": "o-1", "premise_ids": ["P-1"]}}
        answer = await live.post(f"/v1/journeys/{journey_id}/instances", json=request, headers=admin)
        assert answer.status_code == 201, answer.text
        started[journey_id] = answer.json()["instance_id"]

    refused = await live.post(f"/v1/instances/{started[safety]}/cancel", headers=writer)
    assert refused.status_code == 403, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["purpose"]
    assert "admin" in refused.json()["detail"]
    assert await running(temporal_dev_env, started[safety])

    # Not every run: a journeys:write key still cancels a run of a journey that is not for safety.
    assert (await live.post(f"/v1/instances/{started[plain]}/cancel", headers=writer)).status_code == 202
    assert (await live.post(f"/v1/instances/{started[safety]}/cancel", headers=admin)).status_code == 202


async def test_a_safety_cohort_run_is_cancelled_by_admin_only(
    live: httpx.AsyncClient,  # noqa: F811 (the fixture)
    admin: dict[str, str],
    make_key: KeyFactory,
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    writer = await make_key("journeys:read", "journeys:write")
    journey_id = f"outage_notice_{uuid.uuid4().hex[:6]}"
    published = await live.post(
        "/v1/journeys", content=journey(journey_id, "safety", True), headers=admin | YAML
    )
    assert published.status_code == 201, published.text
    created = bill_event(type="customer.created", payload={"name": "Ana"})
    assert (await live.post("/v1/events", json=created, headers=admin)).status_code == 201

    async def customer_known() -> bool:
        return (await live.get("/v1/customers/C-1", headers=admin)).status_code == 200

    await eventually(customer_known, "the customers projection")
    assert (await live.post("/v1/events", json=outage("o-9"), headers=admin)).status_code == 201
    run_id = f"cohort:{journey_id}:o-9"

    async def run_going() -> bool:
        answer = await live.get(f"/v1/instances/{run_id}", headers=admin)
        return answer.status_code == 200 and answer.json()["workflow_status"] == "RUNNING"

    await eventually(run_going, "the outage's cohort run", timeout=30)
    refused = await live.post(f"/v1/instances/{run_id}/cancel", headers=writer)
    assert refused.status_code == 403, refused.text
    assert await running(temporal_dev_env, run_id)
    assert (await live.post(f"/v1/instances/{run_id}/cancel", headers=admin)).status_code == 202
