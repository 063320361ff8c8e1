"""`gridjourney subscriptions status|retry` as installed, against a real database (and Temporal for
the router's retry)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.events import dead_letters
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import set_checkpoint
from tests.cli.in_process import gridjourney_in_process
from tests.events.builders import new_event, usage
from tests.projections.helpers import rows
from tests.projections.test_runner import append_legacy_customer

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


async def gridjourney(database_url: str, *args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(GRIDJOURNEY),
        *args,
        env={**os.environ, "COLUMNS": "200", "GRIDJOURNEY_DATABASE_URL": database_url, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode()


async def test_status_then_retry_of_the_projections(engine: AsyncEngine, database_url: str) -> None:
    store = EventStore(engine)
    await store.append([new_event("customer.created", "c-1", {"name": "Ada"})])
    legacy = await append_legacy_customer(engine, "c-legacy")
    [fixed, broken] = await store.read_after(0)
    assert broken.position == legacy
    async with engine.begin() as conn:
        # As if a fold bug, fixed since, had set c-1's event aside; the legacy event still fails.
        await dead_letters.record(conn, "projections", fixed, "KeyError: 'bug'", 3)
        await dead_letters.record(conn, "projections", broken, "DataError: value too long", 3)
        await set_checkpoint(conn, "projections", legacy)

    # As installed (a fresh process) once; in the test process after (tests/cli/in_process.py).
    code, status = await gridjourney(database_url, "subscriptions", "status")
    assert code == 0, status
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in status.splitlines()]
    assert ["projections", "2", "2", "0", "0", "2"] in cells
    assert next(row[:4] for row in cells if row[:1] == ["router"]) == ["router", "0", "2", "2"]
    # The dead letters below the figures, with their errors.
    assert ["projections", "1", "customer.created", "3"] in [row[:4] for row in cells]
    assert "KeyError: 'bug'" in status and "gridjourney subscriptions retry NAME" in status

    code, retried = await gridjourney_in_process(database_url, "subscriptions", "retry", "projections")
    assert code == 1, retried  # one still fails
    assert "retried 2 dead letters: 1 succeeded (deleted), 1 still failing" in retried
    assert [row["customer_id"] for row in await rows(engine, "customers")] == ["c-1"]
    async with engine.connect() as conn:
        [left] = await dead_letters.list_for(conn, "projections")
    # The rebuild that retried it set it aside anew, after its own attempts.
    assert left.position == legacy and "at most 200 characters" in left.error


async def test_retry_of_the_router_and_of_an_unknown_subscription(
    engine: AsyncEngine, database_url: str, temporal_dev_env: WorkflowEnvironment
) -> None:
    await EventStore(engine).append([usage()])
    [event] = await EventStore(engine).read_after(0)
    async with engine.begin() as conn:
        await dead_letters.record(conn, "router", event, "RPCError: invalid", 3)
        await set_checkpoint(conn, "projections", 1)
    address = temporal_dev_env.client.service_client.config.target_host

    code, output = await gridjourney_in_process(
        database_url, "subscriptions", "retry", "router", GRIDJOURNEY_TEMPORAL_ADDRESS=address
    )
    assert code == 0, output
    assert "router: retried 1 dead letters: 1 succeeded (deleted), 0 still failing" in output
    async with engine.connect() as conn:
        assert await dead_letters.counts(conn) == {}

    code, output = await gridjourney_in_process(database_url, "subscriptions", "retry", "nothing")
    assert code == 2 and "no subscription 'nothing'" in output
