"""Numbers at the doors: what is posted is what is read back (jsonb keeps numbers as `numeric`), or 422.

A float of 2^63 or more comes back from jsonb as an integer beyond 64 bits (1e19 as
10000000000000000000), which the projections refuse: accepted, it would dead-letter them for good.
A number too small for a float (1e-400) would be kept as 0. Both are refused at every door that
stores JSON from outside, naming the field; the smallest floats (5e-324) and large ones below 2^63
are kept and read back as sent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import customers, events
from gridjourney.projections.runner import ProjectionRunner
from tests.api.test_events import assert_problem, bill_event, event_count

JSON = {"Content-Type": "application/json"}


def created(customer_id: str, attributes_json: str) -> bytes:
    """A customer.created body with `attributes` written as raw JSON text (1e-400 has no float form)."""
    envelope = json.dumps(
        bill_event(type="customer.created", customer_id=customer_id, payload={"name": "Ana"})
    )
    return envelope.replace(
        '"payload": {"name": "Ana"}', f'"payload": {{"name": "Ana", "attributes": {attributes_json}}}'
    ).encode()


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ('{"x": 1e19}', "payload.attributes.x"),
        ('{"x": -9.3e18}', "payload.attributes.x"),
        ('{"x": 9223372036854775808.0}', "payload.attributes.x"),
        ('{"a": {"b": {"c": [1, 2, {"d": 1e308}]}}}', "payload.attributes.a.b.c[2].d"),
        ('{"x": 1e-400}', "payload.attributes.x"),
        ('{"x": 2.5e-350}', "payload.attributes.x"),
    ],
)
async def test_a_number_jsonb_cannot_give_back_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, attributes: str, field: str
) -> None:
    response = await client.post("/v1/events", content=created("C-1", attributes), headers=admin | JSON)
    problem = assert_problem(response, 422, field)
    reason = next(e["reason"] for e in problem["errors"] if e["field"] == field)
    assert "2^63" in reason or "zero" in reason, reason
    assert await event_count(engine) == 0


async def test_a_number_out_of_range_in_an_update_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """customer.updated, as a batch: the field is named within the batch, and nothing is appended."""
    update = bill_event(
        type="customer.updated", payload={"attributes": {"a": {"b": {"c": [1, 2, {"d": 1e308}]}}}}
    )
    response = await client.post("/v1/events", json={"events": [bill_event(), update]}, headers=admin)
    assert_problem(response, 422, "events[1].payload.attributes.a.b.c[2].d")
    assert await event_count(engine) == 0


async def test_what_is_kept_reads_back_as_sent_and_projects(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    attributes = (
        '{"tiny": 5e-324, "small": 1e-320, "big": 9.2e18, "negative": -9.2e18, "zero": 0.0, "z": 0e5}'
    )
    response = await client.post("/v1/events", content=created("C-7", attributes), headers=admin | JSON)
    assert response.status_code == 201, response.text
    sent: dict[str, Any] = json.loads(attributes)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(events.c.payload))).scalar_one()
    assert stored["attributes"] == sent
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        projected = (
            await conn.execute(select(customers.c.attributes).where(customers.c.customer_id == "C-7"))
        ).scalar_one()
    assert projected == sent


async def test_a_manual_start_payload_is_checked_the_same_way(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The manual start door (POST /v1/journeys/{id}/instances) refuses the number before it looks
    the journey up: the body never reaches a route."""
    body = '{"customer_id": "C-1", "payload": {"kwh_saved": 1e19, "period_days": 7}}'
    response = await client.post("/v1/journeys/api_manual/instances", content=body, headers=admin | JSON)
    assert_problem(response, 422, "payload.kwh_saved")
    tiny = '{"customer_id": "C-1", "payload": {"kwh_saved": 1e-999, "period_days": 7}}'
    response = await client.post("/v1/journeys/api_manual/instances", content=tiny, headers=admin | JSON)
    assert_problem(response, 422, "payload.kwh_saved")
