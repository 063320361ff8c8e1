"""The dead letters' SQL: setting an event aside twice adds the attempts; counts; removal."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events import dead_letters
from gridjourney.events.store import EventStore
from tests.events.builders import usage


async def test_record_count_and_remove(engine: AsyncEngine) -> None:
    await EventStore(engine).append([usage(), usage()])
    first, second = await EventStore(engine).read_after(0)

    async with engine.begin() as conn:
        await dead_letters.record(conn, "router", second, "KeyError: 'a'", 3)
        await dead_letters.record(conn, "router", first, "KeyError: 'b'", 3)
        await dead_letters.record(conn, "router", first, "KeyError: 'c'", 1)
        await dead_letters.record(conn, "projections", first, "ValueError: x", 3)

    async with engine.connect() as conn:
        listed = await dead_letters.list_for(conn, "router")
        assert [(d.position, d.error, d.attempts) for d in listed] == [
            (first.position, "KeyError: 'c'", 4),
            (second.position, "KeyError: 'a'", 3),
        ]
        assert listed[0].event_id == first.event_id and listed[0].event_type == "usage.reduced"
        assert await dead_letters.counts(conn) == {"router": 2, "projections": 1}

    async with engine.begin() as conn:
        await dead_letters.remove(conn, "router", first.position)
        await dead_letters.remove_all(conn, "projections")
    async with engine.connect() as conn:
        assert await dead_letters.counts(conn) == {"router": 1}
