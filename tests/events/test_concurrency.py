"""Readers never skip an event committed late by a concurrent writer.

Positions come from a sequence, so two transactions can commit out of position order. A reader that
remembers "the last position I saw" then jumps over the smaller one forever. The first test shows that
failure on a plain insert path; the others show the store's append lock prevents it, deterministically
and under load, with readers that check every position arrives once, in order, without gaps.
"""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert

from gridjourney.db.tables import events
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription
from tests.events.builders import BASE_TIME, usage

WRITERS = 20
EVENTS_PER_WRITER = 50


def plain_insert() -> ReturningInsert[int]:
    """An insert into the log without the store's lock, returning the position it was given."""
    row = {
        "event_id": uuid.uuid4(),
        "type": "usage.reduced",
        "customer_id": "c-1",
        "occurred_at": BASE_TIME,
        "source": "test",
        "payload": {"kwh_saved": 1.0, "period_days": 1},
    }
    return insert(events).values(row).returning(events.c.position)


class GapFreeReader:
    """Records what a reader is handed and whether it ever saw a position out of turn."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.event_ids: list[uuid.UUID] = []
        self.violations: list[str] = []

    def take(self, batch: list[StoredEvent]) -> None:
        for event in batch:
            expected = (self.positions[-1] if self.positions else 0) + 1
            if event.position != expected:
                self.violations.append(f"expected position {expected}, got {event.position}")
            self.positions.append(event.position)
            self.event_ids.append(event.event_id)

    async def handle(self, batch: list[StoredEvent]) -> None:
        self.take(batch)


def last_seen(reader: GapFreeReader) -> int:
    return reader.positions[-1] if reader.positions else 0


async def test_a_naive_reader_over_unserialized_inserts_skips_a_late_commit(engine: AsyncEngine) -> None:
    """Why the lock exists: without it the reader's checkpoint jumps over an uncommitted position."""
    store = EventStore(engine)
    reader = GapFreeReader()
    async with engine.connect() as slow, engine.connect() as fast:
        await slow.begin()
        early = (await slow.execute(plain_insert())).scalar_one()
        await fast.begin()
        late = (await fast.execute(plain_insert())).scalar_one()
        await fast.commit()
        assert early < late

        seen = await store.read_after(0)
        reader.take(seen)
        checkpoint = seen[-1].position
        await slow.commit()
        reader.take(await store.read_after(checkpoint))

    assert reader.positions == [late]  # `early` is committed, and will never be read
    assert reader.violations == [f"expected position 1, got {late}"]


async def test_an_append_waits_for_an_earlier_open_append(engine: AsyncEngine) -> None:
    """The same interleaving through the store: the second writer cannot commit before the first."""
    store = EventStore(engine)
    reader = GapFreeReader()
    async with engine.connect() as slow:
        await slow.begin()
        [first] = await store.append_in(slow, [usage(kwh=1)])
        second = asyncio.create_task(store.append([usage(kwh=2)]))
        await wait_until_an_append_waits_for_the_lock(engine)

        assert not second.done()
        assert await store.read_after(0) == []  # nothing visible yet, so nothing can be skipped
        await slow.commit()
    [second_result] = await second

    reader.take(await store.read_after(0))
    assert reader.positions == [first.position, second_result.position] == [1, 2]
    assert reader.violations == []


async def wait_until_an_append_waits_for_the_lock(engine: AsyncEngine) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    for _ in range(1000):
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one() > 0:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the second append never queued behind the first")


async def test_concurrent_appenders_and_live_readers_see_each_event_once_in_turn(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    subscribed = GapFreeReader()
    polled = GapFreeReader()
    subscription = Subscription(engine, "concurrency", subscribed.handle, poll_interval=0.05)
    appended: list[uuid.UUID] = []
    total = WRITERS * EVENTS_PER_WRITER

    async def writer(seed: int) -> None:
        # Batches of 1-4 events in transactions that linger a moment before committing, as a caller
        # doing other work in the same transaction would: without the append lock, commits then land
        # out of position order often enough for the readers below to notice.
        rng = random.Random(seed)
        left = EVENTS_PER_WRITER
        while left:
            batch = [usage(f"c-{seed}", kwh=left - i) for i in range(min(left, rng.randint(1, 4)))]
            async with engine.begin() as conn:
                # Commits then take microseconds instead of a disk flush, so the pause dominates.
                # Visibility order is unaffected: only the wait for durability is skipped.
                await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                results = await store.append_in(conn, batch)
                await asyncio.sleep(rng.random() * 0.02)
            appended.extend(r.event_id for r in results)
            left -= len(batch)

    async def poller(writers_done: asyncio.Event) -> None:
        # A second reader that reads as fast as it can, to sample the log mid-write as often as possible.
        while not (writers_done.is_set() and last_seen(polled) == total):
            polled.take(await store.read_after(last_seen(polled)))
            await asyncio.sleep(0)

    stop = asyncio.Event()
    writers_done = asyncio.Event()
    running = asyncio.create_task(subscription.run_forever(stop))
    polling = asyncio.create_task(poller(writers_done))
    await asyncio.gather(*(writer(seed) for seed in range(WRITERS)))
    writers_done.set()
    await asyncio.wait_for(polling, timeout=120)
    for _ in range(12000):
        if last_seen(subscribed) == total:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await running

    assert len(appended) == total
    assert await store.head() == total
    for reader in (subscribed, polled):
        assert reader.violations == []
        assert reader.positions == list(range(1, total + 1))
        assert sorted(reader.event_ids) == sorted(appended)
    assert await subscription.checkpoint() == total
