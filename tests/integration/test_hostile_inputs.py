"""The cases of the adversarial review, replayed against one running stack (API, workers, projections,
router, the SMS stand-in): every bad input is a 4xx problem+json, nothing is a 5xx, and journeys keep
running for everyone else afterwards. (The `purpose: safety` bypass has its own replay:
test_safety_bypass.py.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.demo.utility import daytime_zones
from tests.stack import ApiStack, api_stack

PROBLEM = "application/problem+json"


@pytest.fixture
async def stack(engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment) -> AsyncIterator[ApiStack]:
    async with api_stack(engine, temporal_dev_env.client) as running:
        yield running


def event(kind: str, customer_id: Any, payload: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": "2026-11-23T15:00:00+00:00",
        "source": "crm",
        "payload": payload,
        **envelope,
    }


def created(customer_id: Any = "C-HOSTILE", **fields: Any) -> dict[str, Any]:
    profile = {"name": "Rosa Diaz", "phone": "+15035550142", "email": "rosa@example.com"}
    return event("customer.created", customer_id, {**profile, **fields})


def bill(customer_id: str, **envelope: Any) -> dict[str, Any]:
    payload = {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": 12}
    return event("bill.projection_updated", customer_id, payload, **envelope)


BAD_EVENTS: dict[str, dict[str, Any]] = {
    "name of 201 characters": created(name="x" * 201),
    "phone of 33 characters": created(phone="+1" + "5" * 31),
    "email of 321 characters": created(email="a" * 309 + "@example.com"),
    "locale of 11 characters": created(locale="e" * 11),
    "time zone of 65 characters": created(time_zone="A" * 65),
    "occurred_at in year 1": bill("C-HOSTILE", occurred_at="0001-01-01T00:00:00Z"),
    "occurred_at in year 9999": bill("C-HOSTILE", occurred_at="9999-12-31T00:00:00Z"),
    "occurred_at as 0": bill("C-HOSTILE", occurred_at=0),
    "occurred_at as a numeric string": bill("C-HOSTILE", occurred_at="1700000000"),
    "days_left of 50 nines": event(
        "bill.projection_updated",
        "C-HOSTILE",
        {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": int("9" * 50)},
    ),
    "phone not-a-phone": created(phone="not-a-phone"),
    "time zone Mars/Olympus": created(time_zone="Mars/Olympus"),
    "locale xx": created(locale="xx"),
    "email 'not an email'": created(email="not an email"),
    "empty customer_id": created(customer_id=""),
    "null customer_id": created(customer_id=None),
    "NUL byte in a payload": created(name="Rosa\x00Diaz"),
    "schema_version of 2^63": bill("C-HOSTILE", schema_version=2**63),
}


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
async def test_bad_events_are_refused_naming_the_field(stack: ApiStack, case: str) -> None:
    response = await stack.http.post("/v1/events", json=BAD_EVENTS[case], headers=stack.writer)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"], response.text


RAW_BODIES = {
    "a lone surrogate": '{"event_id": "%s", "type": "customer.created", "customer_id": "C-1", '
    '"occurred_at": "2026-11-23T15:00:00Z", "source": "crm", "payload": {"name": "\\ud800"}}',
    "Infinity": '{"event_id": "%s", "type": "bill.projection_updated", "customer_id": "C-1", '
    '"occurred_at": "2026-11-23T15:00:00Z", "source": "billing", '
    '"payload": {"projected_amount": Infinity, "typical_amount": 1, "days_left": 3}}',
    "1e400": '{"event_id": "%s", "type": "bill.projection_updated", "customer_id": "C-1", '
    '"occurred_at": "2026-11-23T15:00:00Z", "source": "billing", '
    '"payload": {"projected_amount": 1e400, "typical_amount": 1, "days_left": 3}}',
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
async def test_unrepresentable_json_is_refused(stack: ApiStack, case: str) -> None:
    body = RAW_BODIES[case] % uuid.uuid4()
    response = await stack.http.post(
        "/v1/events",
        content=body.encode(),
        headers={**stack.writer, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "path", ["/v1/customers/C%00X", "/v1/messages?customer_id=C%00X", "/v1/instances/journey%00x"]
)
async def test_nul_bytes_in_paths_and_queries_are_refused(stack: ApiStack, path: str) -> None:
    response = await stack.http.get(path, headers=stack.admin)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_a_reused_event_id_with_other_content_is_a_conflict(stack: ApiStack) -> None:
    first = bill("C-HOSTILE")
    accepted = await stack.http.post("/v1/events", json=first, headers=stack.writer)
    assert accepted.status_code == 201, accepted.text
    position = accepted.json()["events"][0]["position"]
    for changed in (
        {**first, "type": "bill.issued", "payload": {"amount": 1.0}},
        {**first, "customer_id": "C-OTHER"},
        {**first, "payload": {**first["payload"], "days_left": 13}},
    ):
        single = await stack.http.post("/v1/events", json=changed, headers=stack.writer)
        batch = await stack.http.post(
            "/v1/events", json={"events": [bill("C-HOSTILE"), changed]}, headers=stack.writer
        )
        for response in (single, batch):
            assert response.status_code == 409, response.text
            assert str(position) in response.text
    same = await stack.http.post("/v1/events", json=first, headers=stack.writer)
    assert same.status_code == 200 and same.json()["events"][0]["duplicate"] is True


ALIAS_BOMB = "\n".join(
    ["id: bomb", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + n)}: &{chr(98 + n)} [{','.join(['*' + chr(97 + n)] * 9)}]" for n in range(8)]
)


@pytest.mark.parametrize(
    "case,source", [("alias bomb", ALIAS_BOMB), ("5,000 levels deep", "a: " + "[" * 5000 + "]" * 5000)]
)
async def test_hostile_journey_yaml_is_refused_quickly(stack: ApiStack, case: str, source: str) -> None:
    response = await asyncio.wait_for(
        stack.http.post(
            "/v1/journeys",
            content=source.encode(),
            headers={**stack.admin, "Content-Type": "application/yaml"},
        ),
        timeout=30,
    )
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_journeys_keep_running_for_everyone_else(stack: ApiStack) -> None:
    for case in sorted(BAD_EVENTS):
        await stack.http.post("/v1/events", json=BAD_EVENTS[case], headers=stack.writer)
    customer = "C-AFTER"
    consent = event(
        "consent.changed", customer, {"channel": "sms", "purpose": "informational", "granted": True}
    )
    response = await stack.http.post(
        "/v1/events",
        # a zone where it is daytime now: the high-bill alert is sent 09:00-18:00 local only
        json={
            "events": [
                created(customer, phone="+15035550143", time_zone=daytime_zones(datetime.now(UTC))[0]),
                consent,
                bill(customer),
            ]
        },
        headers=stack.writer,
    )
    assert response.status_code == 201, response.text

    def high_bill_texts() -> list[str]:
        return [m.body for m in stack.standin.received if m.to == "+15035550143" and "212.40" in m.body]

    for _ in range(300):
        if high_bill_texts():
            break
        await asyncio.sleep(0.1)
    assert len(high_bill_texts()) == 1
    health = await stack.http.get("/healthz")
    assert health.status_code == 200, health.text
    assert json.loads(health.text)["status"] == "ok"
