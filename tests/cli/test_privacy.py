"""`gridjourney privacy pending` from the installed entry point (a fresh process): an erasure whose
Temporal part is pending is listed with its attempts and last error; `--retry` with Temporal
unreachable leaves it pending and exits 1. (The completion by a retry: tests/privacy.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import temporal_erasures
from gridjourney.events.store import EventStore
from gridjourney.privacy.erasure import erase_customer
from gridjourney.privacy.temporal_erasures import NO_CLIENT, finish
from tests.cli.test_subscriptions import gridjourney
from tests.events.builders import new_event


async def test_pending_lists_an_erasure_left_pending_and_a_failed_retry_exits_1(
    engine: AsyncEngine, database_url: str
) -> None:
    await EventStore(engine).append([new_event("customer.created", "C-CLI-1", {"name": "Ana Ruiz"})])
    erasure = await erase_customer(engine, EventStore(engine), "C-CLI-1")
    assert erasure is not None
    await finish(engine, None, "C-CLI-1", erasure.erased_at)

    status, output = await gridjourney(database_url, "privacy", "pending")
    assert status == 0, output
    [line] = [line for line in output.splitlines() if "C-CLI-1" in line]
    assert f"{erasure.erased_at:%Y-%m-%d %H:%M:%S}" in line and NO_CLIENT in line
    assert "1 erasure(s) with the Temporal part pending" in output
    assert "Ana" not in output  # ids only

    status, output = await gridjourney(
        database_url, "privacy", "pending", "--retry", GRIDJOURNEY_TEMPORAL_ADDRESS="127.0.0.1:1"
    )
    assert status == 1, output
    assert "C-CLI-1: still pending" in output
    async with engine.connect() as conn:
        attempts = (await conn.execute(select(temporal_erasures.c.attempts))).scalar_one()
    assert attempts == 2
