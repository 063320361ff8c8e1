"""The start gate: once a journey's retirement is stored and `retire_journey` has returned, no new run
of it starts, not even from a batch the router loaded the journeys for a moment before.

Whatever reads the journeys' state and then starts runs on it (the router's batch, a schedule's
fire: schedules/activities.py) holds the gate shared, from the read to the last start; retiring
takes it exclusive around the retirement's commit. So a retirement waits for the starts in flight
(which began while the journey was active: runs already going) and every later read sees it. The
gate is a Postgres advisory lock, transaction-scoped: a process that dies, or loses its connection,
releases it with the transaction.

Retiring waits at most `RETIRE_WAIT` for the gate (a batch stuck on a Temporal that does not answer
holds it): then it stores nothing and says so (`GateBusy`); the caller asks again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl import registry
from gridjourney.router import queries

RETIRE_WAIT = 15.0
"""Seconds a retirement waits for the starts in flight before it gives up (and stores nothing)."""
LOCK_NOT_AVAILABLE = "55P03"  # Postgres: lock_timeout expired


class GateBusy(Exception):
    """Runs were still being started after the wait: the retirement was not stored."""


@asynccontextmanager
async def starting_runs(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the gate shared: read the journeys' state and start runs on it inside. Many holders at
    once (they only exclude a retirement); one pooled connection, in a transaction, while inside."""
    async with engine.begin() as conn:
        await queries.hold_start_gate_shared(conn)
        yield


async def retire_journey(
    engine: AsyncEngine, journey_id: str, retired_by: str, *, wait: float | None = None
) -> tuple[registry.Retirement, bool] | None:
    """registry.retire, once no runs are being started (the gate held exclusive around its commit):
    when it returns, no reader that could still start a run of the journey has missed it. None: no
    such journey. Raises GateBusy when starts kept the gate `wait` seconds (default RETIRE_WAIT);
    nothing is stored then."""
    wait = RETIRE_WAIT if wait is None else wait
    async with engine.begin() as conn:
        try:
            await queries.hold_start_gate(conn, wait)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise GateBusy(
                f"runs were still being started after {wait:g} s (the router's batch, a schedule's fire)"
            ) from error
        return await registry.retire(engine, journey_id, retired_by)
