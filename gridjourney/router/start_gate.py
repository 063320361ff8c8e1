"""The start gate: once a journey's retirement is stored and `retire_journey` has returned, no new run
of it starts, not even from a batch the router loaded the journeys for a moment before.

Each journey has its own gate. Whatever starts runs of some journeys (the router, for one event's
starts; a schedule's fire: schedules/activities.py; a manual start: api/routes/journeys.py) holds their
gates shared around a bounded piece of work: it takes them, reads whether those journeys are retired
(under the gates), starts runs of the others only, and lets go. Retiring a journey takes its gate
exclusive around the retirement's commit. So a retirement waits for the starts of that journey in
flight (which read it as active: runs already going), never for other journeys' starts, and every
later read sees it. The gates are Postgres advisory locks, transaction-scoped: a process that dies,
or loses its connection, releases them with the transaction.

Retiring waits at most `RETIRE_WAIT` for its journey's gate (starts stuck on a Temporal that does not
answer hold it): then it stores nothing and says so (`GateBusy`); the caller asks again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl import registry
from gridjourney.router import queries

RETIRE_WAIT = 15.0
"""Seconds a retirement waits for the starts in flight before it gives up (and stores nothing)."""
LOCK_NOT_AVAILABLE = "55P03"  # Postgres: lock_timeout expired


class GateBusy(Exception):
    """Runs of the journey were still being started after the wait: the retirement was not stored."""


@asynccontextmanager
async def starting_runs(engine: AsyncEngine, journey_ids: Collection[str]) -> AsyncIterator[set[str]]:
    """Hold the gates of `journey_ids` shared, and give which of them are retired (read under the
    gates): start runs of the others inside, and nothing more than those starts (a retirement of
    them waits for the block). Many holders at once (they only exclude a retirement); one pooled
    connection, in a transaction, while inside."""
    async with engine.begin() as conn:
        yield await queries.hold_start_gates_shared(conn, journey_ids)


async def retire_journey(
    engine: AsyncEngine, journey_id: str, retired_by: str, *, wait: float | None = None
) -> tuple[registry.Retirement, bool] | None:
    """registry.retire, once no runs of the journey are being started (its gate held exclusive around
    the commit): when it returns, no reader that could still start a run of it has missed it. None: no
    such journey. Raises GateBusy when its starts kept the gate `wait` seconds (default RETIRE_WAIT);
    nothing is stored then."""
    wait = RETIRE_WAIT if wait is None else wait
    async with engine.begin() as conn:
        try:
            await queries.hold_start_gate(conn, journey_id, wait)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise GateBusy(
                f"runs of it were still being started after {wait:g} s "
                "(the router, a schedule's fire, a manual start)"
            ) from error
        return await registry.retire(engine, journey_id, retired_by)
