"""A subscription's progress as its own process sees it: the position it has handled and saved, and
the event set when it moves (the router in the same process waits on it for the projections)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription
from tests.events.builders import usage


async def _ignore(batch: list[StoredEvent]) -> None:
    del batch


async def test_position_and_next_move_follow_the_saved_checkpoint(engine: AsyncEngine) -> None:
    stored = await EventStore(engine).append([usage(f"c-{n}") for n in range(3)])
    subscription = Subscription(engine, "progress", _ignore, batch_size=2)
    assert subscription.position is None  # nothing read yet

    moved = subscription.next_move()
    assert not moved.is_set()
    assert await subscription.catch_up() == 3

    assert moved.is_set()
    assert subscription.position == stored[-1].position == await subscription.checkpoint()
    later = subscription.next_move()  # a fresh one: nothing has moved since
    assert later is not moved and not later.is_set()
    assert await subscription.catch_up() == 0
    assert not later.is_set()
