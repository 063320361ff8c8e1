"""API keys for operations: expiry, rotation, the last-used time, and the per-key rate limit on
POST /v1/events (429 with Retry-After, never a 5xx, under a flood from one key)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key, list_keys, rotate_key
from gridjourney.api.deps import lazy_temporal_client
from gridjourney.config import Settings
from gridjourney.temporal import data_converter
from tests.api.conftest import UNREACHABLE_TEMPORAL


@pytest.fixture
async def http(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(home=tmp_path, api_key_rate_per_second=1000.0)
    app = create_app(
        settings, engine, lazy_temporal_client(UNREACHABLE_TEMPORAL, "default", data_converter(settings))
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _event() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "customer.created",
        "customer_id": f"C-{uuid.uuid4().hex[:8]}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "crm",
        "payload": {"name": "Test", "time_zone": "UTC"},
    }


async def test_an_expired_key_is_refused(engine: AsyncEngine, http: httpx.AsyncClient) -> None:
    _, past = await create_key(
        engine, "old", ["journeys:read"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    _, future = await create_key(
        engine, "new", ["journeys:read"], expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    assert (await http.get("/v1/journeys", headers=_bearer(past))).status_code == 401
    assert (await http.get("/v1/journeys", headers=_bearer(future))).status_code == 200


async def test_rotation_hands_out_a_successor_and_ends_the_old_key(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    old_id, old = await create_key(engine, "billing", ["journeys:read"], rate_per_second=5.0)
    rotated = await rotate_key(engine, old_id)
    assert rotated is not None
    new_id, new = rotated
    assert (await http.get("/v1/journeys", headers=_bearer(old))).status_code == 401
    assert (await http.get("/v1/journeys", headers=_bearer(new))).status_code == 200
    keys = {info.key_id: info for info in await list_keys(engine)}
    assert (keys[new_id].name, keys[new_id].scopes, keys[new_id].rate_per_second) == (
        "billing",
        ["journeys:read"],
        5.0,
    )
    assert keys[old_id].revoked_at is not None
    assert await rotate_key(engine, old_id) is None  # no longer active


async def test_rotation_with_grace_lets_the_old_key_work_until_it_expires(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    old_id, old = await create_key(engine, "billing", ["journeys:read"])
    assert await rotate_key(engine, old_id, grace=timedelta(hours=1)) is not None
    assert (await http.get("/v1/journeys", headers=_bearer(old))).status_code == 200
    [info] = [info for info in await list_keys(engine) if info.key_id == old_id]
    assert info.revoked_at is None and info.expires_at is not None
    assert timedelta(minutes=59) < info.expires_at - datetime.now(UTC) <= timedelta(hours=1)


async def test_the_last_use_is_noted(engine: AsyncEngine, http: httpx.AsyncClient) -> None:
    key_id, key = await create_key(engine, "reader", ["journeys:read"])
    [before] = [info for info in await list_keys(engine) if info.key_id == key_id]
    assert before.last_used_at is None
    assert (await http.get("/v1/journeys", headers=_bearer(key))).status_code == 200
    [after] = [info for info in await list_keys(engine) if info.key_id == key_id]
    assert after.last_used_at is not None
    assert abs(after.last_used_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_flood_from_one_key_gets_429_with_retry_after_and_never_a_5xx(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    # One request per 2 s: the bucket is still empty when the flood's answers are all in.
    _, flooding = await create_key(engine, "flood", ["events:write"], rate_per_second=0.5)
    _, other = await create_key(engine, "other", ["events:write"])
    answers = await asyncio.gather(
        *(http.post("/v1/events", json=_event(), headers=_bearer(flooding)) for _ in range(40))
    )
    statuses = [answer.status_code for answer in answers]
    assert all(status < 500 for status in statuses), statuses
    assert 1 <= statuses.count(202) + statuses.count(201) + statuses.count(200) <= 10
    limited = [answer for answer in answers if answer.status_code == 429]
    assert len(limited) >= 30
    assert limited[0].headers["content-type"] == "application/problem+json"
    assert int(limited[0].headers["retry-after"]) >= 1
    # while the bucket is empty, the key is refused before anything else: even a wrong secret gets 429
    key_id = flooding.split("_")[1]
    refused = await http.post("/v1/events", json=_event(), headers=_bearer(f"gj_{key_id}_wrong"))
    assert refused.status_code == 429
    # another key is not held back by the first one's flood
    answer = await http.post("/v1/events", json=_event(), headers=_bearer(other))
    assert answer.status_code in (200, 201, 202)
