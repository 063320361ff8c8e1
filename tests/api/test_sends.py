"""GET /v1/sends: the send ledger for operators (admin scope), by key, filtered by status, paged."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from tests.api.conftest import KeyFactory

LEASE = timedelta(seconds=60)


async def add_sends(engine: AsyncEngine) -> None:
    """k1, k2 ambiguous (their attempts lost track); k3 claimed and in flight."""
    async with engine.begin() as conn:
        for key in ("k1", "k2", "k3"):
            token = str(uuid.uuid4())
            await ledger.acquire(conn, key, token, LEASE, customer_id="c1", purpose="informational")
            if key != "k3":
                await ledger.reserve(conn, key, token, "sms", "informational", LEASE)
                await ledger.mark_ambiguous(
                    conn, key, token, "TransientSendError: Twilio call interrupted", timedelta(0)
                )


async def test_needs_the_admin_scope(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    answer = await client.get("/v1/sends")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    # the key first, then the parameters: an unknown one does not answer a caller without a key
    answer = await client.get("/v1/sends", params={"customer_id": "c1"})
    assert answer.status_code == 401
    reader = await make_key("journeys:read", "events:write")
    answer = await client.get("/v1/sends", headers=reader)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def test_lists_sends_of_a_status_with_ids_only(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await add_sends(engine)
    answer = await client.get("/v1/sends", params={"status": "ambiguous"}, headers=admin)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["idempotency_key"], i["status"], i["channel"], i["attempts"]) for i in items] == [
        ("k1", "ambiguous", "sms", 1),
        ("k2", "ambiguous", "sms", 1),
    ]
    assert items[0]["note"] == "TransientSendError: Twilio call interrupted"
    assert "recipient" not in items[0] and "+1" not in answer.text
    claimed = (await client.get("/v1/sends", params={"status": "claimed"}, headers=admin)).json()["items"]
    assert [i["idempotency_key"] for i in claimed] == ["k3"]
    assert claimed[0]["lease_expires_at"] is not None


async def test_pages_by_key(client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]) -> None:
    await add_sends(engine)
    first = (await client.get("/v1/sends", params={"limit": 2}, headers=admin)).json()
    assert [i["idempotency_key"] for i in first["items"]] == ["k1", "k2"]
    second = (
        await client.get("/v1/sends", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()
    assert [i["idempotency_key"] for i in second["items"]] == ["k3"]
    assert second["next_cursor"] is None


async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"cursor": "!!"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        answer = await client.get("/v1/sends", params=params, headers=admin)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in answer.text


async def test_an_unknown_filter_is_refused_not_ignored(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    """`?customer_id=` is no filter of the ledger: ignored, it answered with every customer's sends."""
    await add_sends(engine)
    answer = await client.get(
        "/v1/sends", params={"customer_id": "c2", "status": "ambiguous", "limt": 1}, headers=admin
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert [error["field"] for error in problem["errors"]] == ["customer_id", "limt"]
    assert "cursor, limit, status" in problem["detail"]
    assert "idempotency_key" not in answer.text
    known = await client.get("/v1/sends", params={"status": "ambiguous", "limit": 1}, headers=admin)
    assert known.status_code == 200 and len(known.json()["items"]) == 1
