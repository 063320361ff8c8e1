"""POST /v1/events: idempotent, all-or-nothing, and every refusal names the field."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.db.tables import events, outages
from gridjourney.projections.runner import ProjectionRunner


def bill_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "bill.projection_updated",
        "customer_id": "C-1",
        "occurred_at": "2025-07-14T08:00:00-05:00",
        "source": "billing",
        "payload": {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12},
    }
    event.update(overrides)
    return event


async def event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


def assert_problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]], problem
    return problem


async def test_one_event_is_appended(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    event = bill_event()
    response = await client.post("/v1/events", json=event, headers=admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["appended"] == 1 and body["duplicates"] == 0
    assert body["events"][0]["event_id"] == event["event_id"]
    assert body["events"][0]["position"] >= 1 and body["events"][0]["duplicate"] is False
    async with engine.connect() as conn:
        stored = (await conn.execute(select(events))).one()
    assert stored.payload["projected_amount"] == 182.4 and stored.payload["currency"] == "USD"


async def test_the_same_event_twice_is_acknowledged_with_its_first_position(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    event = bill_event()
    first = await client.post("/v1/events", json=event, headers=admin)
    second = await client.post("/v1/events", json=event, headers=admin)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["events"][0]["position"] == first.json()["events"][0]["position"]
    assert second.json()["events"][0]["duplicate"] is True
    assert second.json()["appended"] == 0
    assert await event_count(engine) == 1


async def test_batch_is_appended_in_order(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    batch = [bill_event(), bill_event(customer_id="C-2"), bill_event(customer_id="C-3")]
    response = await client.post("/v1/events", json={"events": batch}, headers=admin)
    assert response.status_code == 201
    results = response.json()["events"]
    assert [r["event_id"] for r in results] == [e["event_id"] for e in batch]
    positions = [r["position"] for r in results]
    assert positions == sorted(positions) and len(set(positions)) == 3


async def test_batch_with_one_bad_event_appends_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    bad = bill_event(payload={"projected_amount": "a lot", "typical_amount": 121.0, "days_left": 12})
    batch = [bill_event(), bill_event(), bill_event(), bad]
    response = await client.post("/v1/events", json={"events": batch}, headers=admin)
    problem = assert_problem(response, 422, "events[3].payload.projected_amount")
    assert "nothing was appended" in problem["detail"]
    assert await event_count(engine) == 0


async def test_every_error_of_a_batch_is_reported_at_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    batch = [bill_event(type="bill.projected"), bill_event(occurred_at="2025-07-14T08:00:00"), bill_event()]
    response = await client.post("/v1/events", json={"events": batch}, headers=admin)
    problem = assert_problem(response, 422, "events[0].type")
    assert "events[1].occurred_at" in [e["field"] for e in problem["errors"]]
    assert not any(e["field"].startswith("events[2]") for e in problem["errors"])


async def test_unknown_type_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    response = await client.post("/v1/events", json=bill_event(type="bill.projected"), headers=admin)
    problem = assert_problem(response, 422, "type")
    assert "bill.projection_updated" in problem["errors"][0]["reason"]  # the known types are listed
    assert await event_count(engine) == 0


async def test_missing_payload_field_is_named(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    event = bill_event(payload={"projected_amount": 182.4, "typical_amount": 121.0})
    problem = assert_problem(
        await client.post("/v1/events", json=event, headers=admin), 422, "payload.days_left"
    )
    assert "required" in problem["errors"][0]["reason"].lower()
    assert await event_count(engine) == 0


async def test_wrong_type_and_unknown_payload_field_are_named(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = bill_event(
        payload={"projected_amount": 182.4, "typical_amount": 121.0, "days_left": "soon", "x": 1}
    )
    problem = assert_problem(
        await client.post("/v1/events", json=event, headers=admin), 422, "payload.days_left"
    )
    assert "payload.x" in [e["field"] for e in problem["errors"]]


async def test_timestamps_without_a_zone_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    naive_envelope = bill_event(occurred_at="2025-07-14T08:00:00")
    problem = assert_problem(
        await client.post("/v1/events", json=naive_envelope, headers=admin), 422, "occurred_at"
    )
    assert "zone" in problem["errors"][0]["reason"]
    dr = bill_event(
        type="dr.event_scheduled",
        payload={
            "dr_event_id": "DR-7",
            "program": "peak-saver",
            "start": "2025-07-15T16:00:00",
            "end": "2025-07-15T19:00:00Z",
        },
    )
    assert_problem(await client.post("/v1/events", json=dr, headers=admin), 422, "payload.start")
    assert await event_count(engine) == 0


async def test_engine_events_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    event = bill_event(
        type="message.sent", payload={"idempotency_key": "k", "channel": "sms", "template": "high_bill_alert"}
    )
    problem = assert_problem(await client.post("/v1/events", json=event, headers=admin), 422, "type")
    assert "engine" in problem["errors"][0]["reason"]
    # the engine's records that have a door of their own name it
    for event_type, door in (
        ("customer.erased", "DELETE /v1/customers/{id}"),
        ("suppression.added", "DELETE /v1/suppressions/{channel}/{address}"),
        ("push.subscribed", "POST /v1/customers/{id}/push-subscriptions"),
    ):
        refused = bill_event(type=event_type, payload={})
        problem = assert_problem(await client.post("/v1/events", json=refused, headers=admin), 422, "type")
        reason = problem["errors"][0]["reason"]
        assert reason.startswith(f"{event_type} events are recorded by the engine") and door in reason
    assert await event_count(engine) == 0


async def test_oversized_body_is_refused_before_parsing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    huge = bill_event(
        payload={"projected_amount": 1.0, "typical_amount": 1.0, "days_left": 1, "pad": "x" * 60_000}
    )
    assert_problem(await client.post("/v1/events", json=huge, headers=admin), 413, "body")

    # Without a Content-Length (chunked), the limit is enforced while reading.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        for _ in range(300):  # ~75 kB, over the 50 kB limit of these tests
            yield json.dumps(bill_event()).encode() + b","
        yield json.dumps(bill_event()).encode() + b"]}"

    headers = {**admin, "Content-Type": "application/json"}
    assert_problem(await client.post("/v1/events", content=chunks(), headers=headers), 413, "body")
    assert await event_count(engine) == 0


async def test_too_many_events_in_a_batch(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, settings: Settings
) -> None:
    settings.max_events_per_batch = 2  # the app reads the same settings object per request
    response = await client.post(
        "/v1/events", json={"events": [bill_event() for _ in range(3)]}, headers=admin
    )
    assert_problem(response, 413, "events")
    assert await event_count(engine) == 0


async def test_malformed_bodies(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    assert_problem(await client.post("/v1/events", content=b'{"event_id": ', headers=headers), 400, "body")
    assert_problem(await client.post("/v1/events", json=[bill_event()], headers=admin), 422, "body")
    empty = assert_problem(await client.post("/v1/events", json={"events": []}, headers=admin), 422, "events")
    assert empty["errors"][0]["reason"] == "an empty list"
    not_a_list = await client.post("/v1/events", json={"events": {}}, headers=admin)
    assert assert_problem(not_a_list, 422, "events")["errors"][0]["reason"] == "not a list"
    wrong_type = await client.post(
        "/v1/events", content=b"x", headers={**admin, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


def customer_event(**payload: Any) -> dict[str, Any]:
    return bill_event(type="customer.created", customer_id="C-9", source="crm", payload=payload)


async def test_every_bad_value_of_the_issue_is_refused_naming_its_field(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (customer_event(name="x" * 201), "payload.name"),
        (customer_event(phone="not-a-phone"), "payload.phone"),
        (customer_event(email="not an email"), "payload.email"),
        (customer_event(time_zone="Mars/Olympus"), "payload.time_zone"),
        (customer_event(locale="xx"), "payload.locale"),  # well-formed, but not a configured locale
        (customer_event(phone="+1" + "5" * 40), "payload.phone"),
        (bill_event(occurred_at="0001-01-01T00:00:00Z"), "occurred_at"),
        (bill_event(occurred_at="9999-01-01T00:00:00Z"), "occurred_at"),
        (bill_event(occurred_at=0), "occurred_at"),
        (bill_event(occurred_at="1700000000"), "occurred_at"),
        (bill_event(payload={**bill_event()["payload"], "days_left": int("9" * 50)}), "payload.days_left"),
        (bill_event(customer_id=""), "customer_id"),
        (bill_event(customer_id="gridjourney.anyone"), "customer_id"),  # the engine's own ids
        (bill_event(customer_id=None), "customer_id"),
        (bill_event(schema_version=2**63), "schema_version"),
    ]
    for event, field in cases:
        assert_problem(await client.post("/v1/events", json=event, headers=admin), 422, field)
    assert await event_count(engine) == 0


async def test_occurred_at_bounds_come_from_the_settings(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert (
        await client.post("/v1/events", json=bill_event(occurred_at=ahead), headers=admin)
    ).status_code == 201
    settings.occurred_at_max_future = timedelta(hours=1)
    problem = assert_problem(
        await client.post("/v1/events", json=bill_event(occurred_at=ahead), headers=admin), 422, "occurred_at"
    )
    reason = "lies more than 1h in the future (GRIDJOURNEY_OCCURRED_AT_MAX_FUTURE)"
    assert problem["errors"][0]["reason"] == reason
    settings.locales = ["en", "fr"]
    accepted = await client.post("/v1/events", json=customer_event(locale="fr"), headers=admin)
    assert accepted.status_code == 201, accepted.text


async def test_phone_and_email_are_stored_normalised(
    client: httpx.AsyncClient, admin: dict[str, str], app: FastAPI
) -> None:
    event = customer_event(phone="+1 503-555-0142", email="ana@EXAMPLE.com", locale="es-MX")
    assert (await client.post("/v1/events", json=event, headers=admin)).status_code == 201
    (stored,) = await app.state.store.read_customer("C-9")
    assert (stored.payload["phone"], stored.payload["email"]) == ("+15035550142", "ana@example.com")
    assert stored.payload["locale"] == "es"  # a regional tag is stored as its configured language
    refused = customer_event(locale="pt-BR")  # Portuguese is no configured language
    assert_problem(await client.post("/v1/events", json=refused, headers=admin), 422, "payload.locale")


async def test_an_event_id_reused_for_other_content_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    event = bill_event()
    first = (await client.post("/v1/events", json=event, headers=admin)).json()["events"][0]
    again = await client.post("/v1/events", json=event, headers=admin)
    assert again.status_code == 200 and again.json()["events"][0]["duplicate"] is True
    for changed in (
        {**event, "customer_id": "C-2"},
        {**event, "type": "bill.issued", "payload": {"amount": 1.0}},
        {**event, "payload": {**event["payload"], "days_left": 3}},
    ):
        problem = assert_problem(
            await client.post("/v1/events", json=changed, headers=admin), 409, "event_id"
        )
        assert problem["position"] == first["position"]
    batch = {"events": [bill_event(), {**event, "customer_id": "C-3"}]}
    problem = assert_problem(
        await client.post("/v1/events", json=batch, headers=admin), 409, "events[1].event_id"
    )
    assert problem["position"] == first["position"]
    twice_in_one_batch = {"events": [(fresh := bill_event()), {**fresh, "source": "other"}]}
    assert_problem(
        await client.post("/v1/events", json=twice_in_one_batch, headers=admin), 409, "events[1].event_id"
    )
    assert await event_count(engine) == 1


# --- DR events and outages (no customer: they name their own subject) -------------------------------
def grid_event(event_type: str, **payload: Any) -> dict[str, Any]:
    return bill_event(type=event_type, customer_id=None, source="oms", payload=payload)


def dr_window(start: datetime, end: datetime) -> dict[str, str]:
    return {"dr_event_id": "dr-1", "start": start.isoformat(), "end": end.isoformat()}


async def test_an_outage_naming_no_premise_transformer_or_feeder_is_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    for payload in ({"incident_id": "o-1"}, {"incident_id": "o-1", "premise_ids": [], "feeder_ids": []}):
        problem = assert_problem(
            await client.post("/v1/events", json=grid_event("outage.detected", **payload), headers=admin),
            422,
            "payload.premise_ids",
        )
        assert "transformer_ids or feeder_ids" in problem["errors"][0]["reason"]
    # A restoration naming none is the whole incident: accepted.
    restored = grid_event("outage.restored", incident_id="o-1", restored_at="2025-07-14T09:00:00Z")
    assert (await client.post("/v1/events", json=restored, headers=admin)).status_code == 201
    assert await event_count(engine) == 1


async def test_a_dr_event_ending_before_it_starts_or_already_over_is_refused_naming_end(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    tomorrow = now + timedelta(days=1)
    cases = [
        (grid_event("dr.event_scheduled", program="ptr", **dr_window(tomorrow, tomorrow)), "after `start`"),
        (
            grid_event(
                "dr.event_scheduled", program="ptr", **dr_window(tomorrow, tomorrow - timedelta(hours=1))
            ),
            "after `start`",
        ),
        (
            grid_event(
                "dr.event_scheduled",
                program="ptr",
                **dr_window(now - timedelta(hours=3), now - timedelta(hours=1)),
            ),
            "ended already",
        ),
        (
            grid_event("dr.event_modified", modification_number=1, **dr_window(tomorrow, now)),
            "after `start`",
        ),
    ]
    for event, reason in cases:
        problem = assert_problem(
            await client.post("/v1/events", json=event, headers=admin), 422, "payload.end"
        )
        assert reason in problem["errors"][0]["reason"]
    assert await event_count(engine) == 0
    # Under way (started, not ended) is fine.
    running = grid_event("dr.event_scheduled", program="ptr", **dr_window(now - timedelta(hours=1), tomorrow))
    assert (await client.post("/v1/events", json=running, headers=admin)).status_code == 201


async def test_the_same_incident_posted_twice_is_one_event_and_one_incident(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    detected = grid_event("outage.detected", incident_id="o-1", transformer_ids=["T-1"], cause="storm")
    for _ in range(2):
        response = await client.post("/v1/events", json=detected, headers=admin)
        assert response.status_code in (200, 201), response.text
    assert response.json()["events"][0]["duplicate"] is True
    # The OMS sending it again under a new event id: one incident still.
    again = {**detected, "event_id": str(uuid.uuid4())}
    assert (await client.post("/v1/events", json=again, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()

    assert await event_count(engine) == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outages.c.incident_id, outages.c.canonical_incident_id))).all()
    assert [tuple(row) for row in rows] == [("o-1", "o-1")]
