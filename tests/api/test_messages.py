"""GET /v1/messages: filters and keyset pagination over the messages projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import messages

START = datetime(2025, 7, 14, 15, 0, tzinfo=UTC)


async def add_messages(engine: AsyncEngine) -> None:
    # Rows as the messages projection writes them from message.* events (tested with the projections).
    rows = [
        {
            "idempotency_key": f"journey:high_bill_alert:C-{i % 3}:w1/alert/C-{i % 3}/{i}",
            "customer_id": f"C-{i % 3}",
            "journey_id": "high_bill_alert" if i % 2 else "onboarding",
            "channel": "sms" if i % 4 else "email",
            "template": "high_bill_alert",
            "locale": "en",
            "status": "suppressed" if i == 5 else "sent",
            "reason": "no sms consent for marketing" if i == 5 else None,
            "occurred_at": START + timedelta(minutes=i // 2),  # pairs share a timestamp: the key breaks ties
            "updated_at": START,
            "last_position": i + 1,
        }
        for i in range(10)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(messages), rows)


async def test_filters(client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine) -> None:
    await add_messages(engine)

    async def keys(**params: str) -> list[str]:
        response = await client.get("/v1/messages", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [m["idempotency_key"] for m in response.json()["items"]]

    assert len(await keys()) == 10
    assert (
        all("/C-1/" in k for k in await keys(customer_id="C-1")) and len(await keys(customer_id="C-1")) == 3
    )
    assert len(await keys(journey_id="onboarding")) == 5
    assert len(await keys(channel="email")) == 3
    suppressed = (await client.get("/v1/messages", params={"status": "suppressed"}, headers=admin)).json()[
        "items"
    ]
    assert [m["reason"] for m in suppressed] == ["no sms consent for marketing"]
    for unknown in ("fax", "outbox"):  # the dev outbox stores email and push under their own channel
        bad = await client.get("/v1/messages", params={"channel": unknown}, headers=admin)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "channel"


async def test_pages_cover_everything_once_newest_first(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await add_messages(engine)
    seen: list[dict[str, str]] = []
    cursor = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/messages", params=params, headers=admin)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len({m["idempotency_key"] for m in seen}) == 10
    assert [m["occurred_at"] for m in seen] == sorted((m["occurred_at"] for m in seen), reverse=True)
    too_many = await client.get("/v1/messages", params={"limit": "501"}, headers=admin)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"


async def test_deferred_and_reported_statuses_are_listed(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    morning = START + timedelta(hours=10)
    rows = [
        {
            "idempotency_key": f"k-{status}",
            "customer_id": "C-1",
            "channel": "email",
            "status": status,
            "reason": "sms: quiet_hours" if status == "deferred" else None,
            "deferred_until": morning if status == "deferred" else None,
            "occurred_at": START,
            "updated_at": START,
            "last_position": n + 1,
        }
        for n, status in enumerate(["deferred", "bounced", "opened", "spam_reported"])
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(messages), rows)
    response = await client.get("/v1/messages", params={"status": "deferred"}, headers=admin)
    assert response.status_code == 200, response.text
    [deferred] = response.json()["items"]
    assert deferred["deferred_until"] == morning.isoformat().replace("+00:00", "Z")
    for status in ("bounced", "opened", "spam_reported"):
        listed = (await client.get("/v1/messages", params={"status": status}, headers=admin)).json()["items"]
        assert [m["idempotency_key"] for m in listed] == [f"k-{status}"]
    unknown = await client.get("/v1/messages", params={"status": "lost"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "status"


async def test_an_unknown_filter_is_refused_not_ignored(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await add_messages(engine)
    answer = await client.get("/v1/messages", params={"customer": "C-1"}, headers=admin)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["customer"]
    assert "customer_id" in answer.json()["detail"]
    filtered = await client.get("/v1/messages", params={"customer_id": "C-1"}, headers=admin)
    assert filtered.status_code == 200
    assert {item["customer_id"] for item in filtered.json()["items"]} == {"C-1"}
