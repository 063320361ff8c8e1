"""A Postgres outage of a few seconds while an integration keeps posting: every answer is an
acknowledgement (201) or a 503 problem+json with Retry-After, never another error; every acknowledged
event is in the log afterwards, and the API recovers by itself when the server is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.db.tables import events
from gridjourney.devstack import postgres_database_url, start_postgres

OUTAGE_SECONDS = 3.0


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Path]:
    """A server of this test's own: the session's server must not be stopped under other tests."""
    server = start_postgres(tmp_path / "pg")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE outage")
    upgrade(postgres_database_url(server.get_uri(), "outage"))
    try:
        yield tmp_path / "pg"
    finally:
        start_postgres(tmp_path / "pg").cleanup()


def usage_event(customer_id: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "usage.reduced",
        "customer_id": customer_id,
        "occurred_at": "2026-11-23T15:00:00+00:00",
        "source": "mdm",
        "payload": {"kwh_saved": 1.5, "period_days": 1},
    }


async def test_an_outage_gets_503s_and_loses_nothing_acknowledged(
    own_postgres: Path, tmp_path: Path, temporal_dev_env: WorkflowEnvironment
) -> None:
    settings = Settings(home=tmp_path / "home")
    url = postgres_database_url(start_postgres(own_postgres).get_uri(), "outage")
    engine = create_engine(url)

    async def temporal() -> Client:
        return temporal_dev_env.client

    app = create_app(settings, engine, temporal)
    _, key = await create_key(engine, "mdm", ["events:write"])
    headers = {"Authorization": f"Bearer {key}"}
    answers: list[tuple[str, httpx.Response]] = []
    outage_over = asyncio.Event()

    async def integration(http: httpx.AsyncClient) -> None:
        # Keeps posting through the outage, and for a while after it.
        sent_after = 0
        while sent_after < 20:
            event = usage_event(f"C-{len(answers)}")
            answers.append((event["event_id"], await http.post("/v1/events", json=event, headers=headers)))
            sent_after += outage_over.is_set()
            await asyncio.sleep(0.05)

    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http:
            posting = asyncio.create_task(integration(http))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(start_postgres(own_postgres).cleanup)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(start_postgres, own_postgres)
            outage_over.set()
            await posting
        async with engine.connect() as conn:
            logged = {str(row.event_id) for row in await conn.execute(select(events.c.event_id))}
    finally:
        await engine.dispose()

    statuses = [response.status_code for _, response in answers]
    assert set(statuses) <= {201, 503}, statuses
    assert 503 in statuses, "the outage was never met"
    for _, response in answers:
        if response.status_code == 503:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert int(response.headers["retry-after"]) > 0
    acknowledged = {event_id for event_id, response in answers if response.status_code == 201}
    assert acknowledged <= logged
    assert statuses[-5:] == [201] * 5  # recovered by itself
