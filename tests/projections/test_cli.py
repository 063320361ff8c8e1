"""`gridjourney projections rebuild|status` against a real database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli import app
from gridjourney.config import get_settings
from gridjourney.db.tables import customers
from gridjourney.events.store import EventStore
from tests.events.builders import new_event, usage
from tests.projections.helpers import dump, project


async def test_rebuild_command_restores_the_tables_and_prints_counts(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await project(engine, new_event("customer.created", "c-1", {"name": "Ada"}), usage("c-1"))
    built = await dump(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(customers))
    await EventStore(engine).append([new_event("customer.created", "c-2", {"name": "Bo"})])
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        # The CLI runs its own event loop (asyncio.run), so it is called from a thread here.
        status = await asyncio.to_thread(runner.invoke, app, ["projections", "status"])
        rebuilt = await asyncio.to_thread(runner.invoke, app, ["projections", "rebuild", "--batch-size", "2"])
    finally:
        get_settings.cache_clear()

    assert status.exit_code == 0, status.output
    assert "at position 2 of 3 (1 events behind)" in status.output
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt from 3 events (up to position 3)" in rebuilt.output
    assert "customers" in rebuilt.output and "│ 2 " in rebuilt.output
    after = await dump(engine)
    assert [row[:2] for row in after["customers"]] == [("c-1", "Ada"), ("c-2", "Bo")]
    assert after["customers"][0] == built["customers"][0]
