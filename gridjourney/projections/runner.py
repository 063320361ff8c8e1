"""Keeps the projections current ("projections" subscription) and rebuilds them from the log.

Each batch is applied and the checkpoint saved in one transaction, so the tables always equal the
fold of the log up to the checkpoint: exactly-once, whatever crashes. An event a fold refuses (a bug,
or a payload written before a schema change) is set aside as a dead letter of "projections" in that
same transaction, with none of its writes (events/poison.py), and the others are folded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.events import dead_letters
from gridjourney.events.models import StoredEvent
from gridjourney.events.poison import RetryReport, handle_isolating_failures
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription, lock_checkpoint, set_checkpoint
from gridjourney.incidents import projection as outages
from gridjourney.projections import (
    consents,
    customers,
    dr_events,
    journey_instances,
    messages,
    programs,
    push_subscriptions,
    suppressions,
)
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)

SUBSCRIPTION_NAME = "projections"
PROJECTIONS: tuple[Projection, ...] = (
    customers.PROJECTION,
    consents.PROJECTION,
    messages.PROJECTION,
    journey_instances.PROJECTION,
    push_subscriptions.PROJECTION,
    suppressions.PROJECTION,
    programs.PROJECTION,
    # after customers: a restoration of a transformer or feeder reads the premises of its customers
    outages.PROJECTION,
    dr_events.PROJECTION,
)
_BY_TYPE: dict[str, list[Projection]] = {}
for _projection in PROJECTIONS:
    for _event_type in _projection.event_types:
        _BY_TYPE.setdefault(_event_type, []).append(_projection)


def is_folded(event_type: str) -> bool:
    """Whether some projection folds events of this type."""
    return event_type in _BY_TYPE


Progress = Callable[[int, int], None]
"""Called with (position reached, head of the log) as a rebuild goes."""


async def apply_events(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
    """Fold `batch`, in order, into every projection that reads its types (idempotent).

    A projection with a batch fold (`apply_many`) gets all its events of the batch in one call, after
    the others have folded theirs. The tables are the same as event by event because no fold reads a
    table that a batch fold writes (the messages and journey instances projections' folds read only
    their own tables)."""
    held: dict[str, list[StoredEvent]] = {}
    for event in batch:
        for projection in _BY_TYPE.get(event.type, ()):
            if projection.apply_many is None:
                await projection.apply(conn, event)
            else:
                held.setdefault(projection.name, []).append(event)
    for projection in PROJECTIONS:
        if projection.apply_many is not None and projection.name in held:
            await projection.apply_many(conn, held[projection.name])


class ProjectionRunner:
    """The "projections" subscription: `run_forever(stop)` in the worker, `catch_up()` on demand."""

    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500, poll_interval: float = 5.0) -> None:
        self.subscription = Subscription(
            engine,
            SUBSCRIPTION_NAME,
            transactional=apply_events,
            batch_size=batch_size,
            poll_interval=poll_interval,
            # Events no projection folds (triggers such as bill.projection_updated, meter reads) are
            # passed over for their position and type: not fetched whole, opened or folded.
            wanted=is_folded,
        )

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.subscription.run_forever(stop)

    async def catch_up(self) -> int:
        return await self.subscription.catch_up()

    async def checkpoint(self) -> int:
        return await self.subscription.checkpoint()

    async def retry_dead_letters(self) -> RetryReport:
        """Fold the dead letters again by rebuilding: a fold skips an event older than its row (a
        later event already applied), so replaying a letter alone could silently change nothing.
        Folding the whole log again puts each event in its place; those that still fail are set aside
        anew."""
        engine = self.subscription.engine
        async with engine.connect() as conn:
            before = (await dead_letters.counts(conn)).get(SUBSCRIPTION_NAME, 0)
        await rebuild(engine)
        async with engine.connect() as conn:
            after = (await dead_letters.counts(conn)).get(SUBSCRIPTION_NAME, 0)
        return RetryReport(retried=before, succeeded=max(before - after, 0), failed=after)


class RebuildResult(BaseModel):
    events: int
    position: int
    counts: dict[str, int]


async def rebuild(
    engine: AsyncEngine, *, batch_size: int = 1000, on_progress: Progress | None = None
) -> RebuildResult:
    """Empty the projection tables and fold the whole log into them again, from position 0.

    One transaction: readers keep seeing the old rows until the new ones commit (DELETE, not
    TRUNCATE, whose exclusive lock would block them), and a crash leaves the old tables. The
    checkpoint row is locked first, so a running ProjectionRunner waits, then continues from the
    position the rebuild reached. The dead letters of "projections" are folded again too: those that
    still fail are set aside anew.
    """
    store = EventStore(engine)
    folded = 0
    async with engine.begin() as conn:
        await lock_checkpoint(conn, SUBSCRIPTION_NAME)
        await dead_letters.remove_all(conn, SUBSCRIPTION_NAME)
        for projection in PROJECTIONS:
            await conn.execute(delete(projection.table))
        head = await store.head()
        position = 0
        if on_progress is not None:
            on_progress(0, head)
        # Events are immutable and appear in position order, so reading on other connections is safe.
        while batch := await store.read_after(position, batch_size):
            await handle_isolating_failures(conn, SUBSCRIPTION_NAME, batch, apply_events)
            folded += len(batch)
            position = batch[-1].position
            if on_progress is not None:
                on_progress(position, max(head, position))
        await set_checkpoint(conn, SUBSCRIPTION_NAME, position)
        counts = await table_counts(conn)
    log.info("projections rebuilt from %d events up to position %d: %s", folded, position, counts)
    return RebuildResult(events=folded, position=position, counts=counts)


async def table_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per projection table."""
    counts: dict[str, int] = {}
    for projection in PROJECTIONS:
        query = select(func.count()).select_from(projection.table)
        counts[projection.table.name] = int((await conn.execute(query)).scalar_one())
    return counts
