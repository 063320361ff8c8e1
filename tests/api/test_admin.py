"""GET /v1/admin/subscriptions: admin scope only; the subscription figures and their dead letters."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events import dead_letters
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import set_checkpoint
from tests.api.conftest import KeyFactory
from tests.events.builders import usage


async def test_needs_the_admin_scope(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    assert (await client.get("/v1/admin/subscriptions")).status_code == 401
    writer = await make_key("journeys:write", "events:write", "journeys:read")
    response = await client.get("/v1/admin/subscriptions", headers=writer)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_figures_and_capped_dead_letters(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(4)])
    stored = await store.read_after(0)
    async with engine.begin() as conn:
        await set_checkpoint(conn, "projections", 4)
        await set_checkpoint(conn, "router", 1)
        for event in stored[:3]:
            await dead_letters.record(conn, "projections", event, "ValueError: bad", 3)

    response = await client.get("/v1/admin/subscriptions", params={"dead_letters_limit": 2}, headers=admin)

    assert response.status_code == 200, response.text
    body = response.json()
    figures = {s["name"]: s for s in body["subscriptions"]}
    assert (figures["projections"]["lag_events"], figures["projections"]["dead_letters"]) == (0, 3)
    assert (figures["router"]["position"], figures["router"]["lag_events"]) == (1, 3)
    assert [(d["subscription"], d["position"], d["error"]) for d in body["dead_letters"]] == [
        ("projections", 1, "ValueError: bad"),
        ("projections", 2, "ValueError: bad"),
    ]
    assert body["truncated"] is True
    assert "payload" not in body["dead_letters"][0]


async def test_a_limit_out_of_range_is_a_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get("/v1/admin/subscriptions", params={"dead_letters_limit": 5000}, headers=admin)
    assert response.status_code == 422
