"""POST /v1/events with the event types declared in events/*.yaml: accepted and refused like the
built-in ones, and described in the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events
from tests.api.test_events import assert_problem


def audit_booked(**payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "audit.booked",
        "customer_id": "C-7",
        "occurred_at": "2025-11-01T10:00:00Z",
        "source": "crm",
        "payload": {
            "audit_id": "A-19",
            "scheduled_for": "2025-11-05T14:00:00Z",
            "kind": "in_home",
            **payload,
        },
    }


async def test_a_declared_event_is_appended(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    response = await client.post("/v1/events", json=audit_booked(), headers=admin)
    assert response.status_code == 201, response.text
    async with engine.connect() as conn:
        stored = (await conn.execute(select(events.c.type, events.c.payload))).one()
    assert stored.type == "audit.booked" and stored.payload["kind"] == "in_home"


async def test_a_declared_event_is_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    bad_time = await client.post("/v1/events", json=audit_booked(scheduled_for="next week"), headers=admin)
    assert_problem(bad_time, 422, "payload.scheduled_for")
    bad_kind = await client.post("/v1/events", json=audit_booked(kind="by_phone"), headers=admin)
    assert_problem(bad_kind, 422, "payload.kind")
    anonymous = {**audit_booked(), "customer_id": None}
    assert_problem(await client.post("/v1/events", json=anonymous, headers=admin), 422, "customer_id")
    unknown = {**audit_booked(), "type": "audit.cancelled"}
    problem = assert_problem(await client.post("/v1/events", json=unknown, headers=admin), 422, "type")
    assert "events/*.yaml" in problem["errors"][0]["reason"]


async def test_the_openapi_document_describes_declared_types(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    by_type = {option["properties"]["type"]["const"]: option for option in body["oneOf"][0]["oneOf"]}
    audit = by_type["audit.booked"]
    assert audit["description"] == "The customer booked a home energy audit."
    assert "customer_id" in audit["required"]
    assert audit["properties"]["payload"]["properties"]["kind"]["enum"] == ["in_home", "virtual"]
    assert set(audit["properties"]["payload"]["required"]) == {"audit_id", "scheduled_for", "kind"}
    assert {"bill.past_due", "budget_billing.enrolled"} <= set(by_type)
