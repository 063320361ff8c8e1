"""The projections pass over the events no projection folds (triggers, meter reads): the checkpoint
moves past them, the events among them that are folded are folded."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner, is_folded
from tests.events.builders import new_event
from tests.projections.helpers import rows

BILL = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12, "currency": "USD"}


def test_only_the_types_some_projection_folds_are_wanted() -> None:
    assert is_folded("customer.created") and is_folded("journey.exited") and is_folded("message.sent")
    assert not is_folded("bill.projection_updated")


async def test_events_nothing_folds_move_the_checkpoint_and_the_rest_is_folded(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([new_event("bill.projection_updated", "c-1", BILL, minute=m) for m in range(3)])
    runner = ProjectionRunner(engine, batch_size=2)
    await runner.catch_up()
    head = await store.head()
    assert await runner.checkpoint() == head
    assert await rows(engine, "customers") == []

    await store.append(
        [
            new_event("bill.projection_updated", "c-1", BILL, minute=4),
            new_event("customer.created", "c-1", {"name": "Ada"}, minute=5),
            new_event("bill.projection_updated", "c-1", BILL, minute=6),
        ]
    )
    await runner.catch_up()
    assert await runner.checkpoint() == await store.head() == head + 3
    [customer] = await rows(engine, "customers")
    assert (customer["customer_id"], customer["name"]) == ("c-1", "Ada")
