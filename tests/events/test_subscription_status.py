"""Subscription figures: position, head, lag in events and seconds, dead letters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events
from gridjourney.events import dead_letters
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import set_checkpoint
from gridjourney.events.subscription_status import subscription_statuses
from tests.events.builders import usage


async def test_figures_of_each_subscription(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(5)])
    first, second, third, *_ = await store.read_after(0)
    async with engine.begin() as conn:
        # The third event waits for two hours; those after it are newer.
        await conn.execute(
            update(events)
            .where(events.c.position == third.position)
            .values(recorded_at=func.now() - timedelta(hours=2))
        )
        await set_checkpoint(conn, "fast", 5)
        await set_checkpoint(conn, "slow", second.position)
        await dead_letters.record(conn, "slow", first, "KeyError: 'x'", 3)

    async with engine.connect() as conn:
        statuses = {status.name: status for status in await subscription_statuses(conn, ["idle"])}

    assert sorted(statuses) == ["fast", "idle", "slow"]
    fast, idle, slow = statuses["fast"], statuses["idle"], statuses["slow"]
    assert (fast.position, fast.head, fast.lag_events, fast.lag_seconds, fast.dead_letters) == (5, 5, 0, 0, 0)
    assert (slow.position, slow.lag_events, slow.dead_letters) == (2, 3, 1)
    assert 7100 < slow.lag_seconds < 7300
    assert (idle.position, idle.lag_events) == (0, 5)
    assert idle.lag_seconds < 60
