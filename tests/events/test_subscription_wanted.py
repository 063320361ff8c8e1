"""A subscription that acts on a few event types (`wanted`) gets only those, whole and in order, while
its checkpoint moves past every other event, batch by batch, as if it had handled them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription
from tests.events.builders import new_event, usage


async def _log(engine: AsyncEngine) -> None:
    """Positions 3 and 5 are customer.created, the others usage."""
    created = [new_event("customer.created", f"c-{name}", {"name": name}) for name in ("Ana", "Bo")]
    await EventStore(engine).append([usage(), usage(), created[0], usage(), created[1], usage(), usage()])


def _wanted(event_type: str) -> bool:
    return event_type == "customer.created"


async def test_only_wanted_events_are_handed_over_and_the_checkpoint_passes_the_rest(
    engine: AsyncEngine,
) -> None:
    await _log(engine)
    batches: list[list[tuple[int, str, object]]] = []

    async def handle(batch: list[StoredEvent]) -> None:
        batches.append([(event.position, event.type, event.payload.get("name")) for event in batch])

    subscription = Subscription(engine, "s", handle, batch_size=3, wanted=_wanted)
    assert await subscription.catch_up() == 7  # every event was read
    # Batches of three positions: 1-3, 4-6, then 7 alone, which holds nothing wanted (no call).
    assert batches == [[(3, "customer.created", "Ana")], [(5, "customer.created", "Bo")]]
    assert await subscription.checkpoint() == 7
    assert await subscription.catch_up() == 0


async def test_a_transactional_subscription_with_wanted_types_saves_its_place_with_its_writes(
    engine: AsyncEngine,
) -> None:
    await _log(engine)
    folded: list[int] = []

    async def fold(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        folded.extend(event.position for event in batch)

    subscription = Subscription(engine, "t", transactional=fold, batch_size=2, wanted=_wanted)
    assert await subscription.catch_up() == 7
    assert folded == [3, 5]
    assert await subscription.checkpoint() == 7
