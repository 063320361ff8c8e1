"""Whether a consent change applied, asked of one change (the router) or of a whole log (a replay):
the same answer as the projection's fold and the timeline's notes, from the one rule `supersedes`."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.projections.consents import (
    applied_on_arrival,
    not_applied_in_log,
    not_applied_notes,
    not_applied_positions,
    supersedes,
)
from tests.projections.helpers import project, rows
from tests.projections.test_consents import at, consent


def test_a_change_applies_only_over_an_older_one_and_ties_go_to_the_later_arrival() -> None:
    assert supersedes((at(5), 2), None)
    assert supersedes((at(5), 2), (at(4), 9))
    assert supersedes((at(5), 2), (at(5), 1))
    assert not supersedes((at(4), 9), (at(5), 2))


async def test_one_change_and_the_whole_log_agree_with_the_projection(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    minutes = [10, 5, 20, 15, 15, 3, 30]
    random.Random(7).shuffle(minutes)
    for i, minute in enumerate(minutes):
        await project(engine, consent(at(minute), i % 2 == 0, "web", customer_id="c-applied"))
    await project(engine, consent(at(1), True, "web", customer_id="c-other", purpose="marketing"))
    log = await store.read_after(0)

    async with engine.connect() as conn:
        one_by_one = {event.position for event in log if not await applied_on_arrival(conn, event)}
        noted = set(await not_applied_notes(conn, "c-applied"))
        whole_log = await not_applied_in_log(conn)
    assert one_by_one == not_applied_positions(reversed(log)) == noted == whole_log
    assert one_by_one  # the shuffle leaves some changes older than the one in force on arrival
    # the row in force is the last change that applied
    applied = [
        event for event in log if event.position not in one_by_one and event.customer_id == "c-applied"
    ]
    last = max(applied, key=lambda event: (event.occurred_at, event.position))
    [row] = [row for row in await rows(engine, "consents") if row["customer_id"] == "c-applied"]
    assert (row["granted"], row["last_position"]) == (last.payload["granted"], last.position)
