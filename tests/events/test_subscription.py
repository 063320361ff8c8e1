"""Subscriptions: checkpoints, NOTIFY wake-ups, handler errors, restarts, transactional handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription, load_checkpoint, set_checkpoint
from tests.events.builders import usage

# Long enough that anything a test sees happen within its run came from a NOTIFY, not from polling.
NEVER = 3600.0


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail_times = fail_times
        self.changed = asyncio.Event()

    @property
    def positions(self) -> list[int]:
        return [p for batch in self.batches for p in batch]

    async def handle(self, batch: list[StoredEvent]) -> None:
        self.batches.append([event.position for event in batch])
        self.changed.set()
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("handler down")


async def until(condition: Callable[[], bool], changed: asyncio.Event) -> None:
    """Wait for `condition`, re-checking whenever `changed` fires (a hang fails the test, not a clock)."""

    async def loop() -> None:
        while not condition():
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(loop(), timeout=60)


async def running(subscription: Subscription, body: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(subscription.run_forever(stop))
    try:
        await asyncio.wait_for(subscription.ready.wait(), timeout=60)
        await body()
    finally:
        stop.set()
        await task


async def test_catch_up_hands_over_everything_in_batches_and_saves_its_place(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage(kwh=n) for n in range(7)])
    recorder = Recorder()
    subscription = Subscription(engine, "s", recorder.handle, batch_size=3)

    assert await subscription.catch_up() == 7
    assert recorder.batches == [[1, 2, 3], [4, 5, 6], [7]]
    assert await subscription.checkpoint() == 7
    assert await subscription.catch_up() == 0
    assert recorder.batches == [[1, 2, 3], [4, 5, 6], [7]]


async def test_a_restarted_subscription_resumes_from_its_checkpoint(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(5)])
    first = Recorder()
    assert await Subscription(engine, "s", first.handle).catch_up() == 5
    await store.append([usage() for _ in range(3)])

    second = Recorder()
    assert await Subscription(engine, "s", second.handle).catch_up() == 3
    other = Recorder()
    assert await Subscription(engine, "another", other.handle).catch_up() == 8

    assert second.positions == [6, 7, 8]
    assert other.positions == list(range(1, 9))


async def test_catch_up_raises_a_handler_error_and_keeps_the_checkpoint_before_the_batch(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(4)])
    recorder = Recorder()
    subscription = Subscription(engine, "s", recorder.handle, batch_size=2)
    await subscription.catch_up()
    await store.append([usage() for _ in range(2)])
    recorder.fail_times = 1

    with pytest.raises(RuntimeError, match="handler down"):
        await subscription.catch_up()
    assert await subscription.checkpoint() == 4

    assert await subscription.catch_up() == 2
    assert recorder.batches[-2:] == [[5, 6], [5, 6]]
    assert await subscription.checkpoint() == 6


async def test_run_forever_wakes_on_notify(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage()])
    recorder = Recorder()
    subscription = Subscription(engine, "s", recorder.handle, poll_interval=NEVER)

    async def body() -> None:
        assert recorder.positions == [1]  # caught up before reporting ready
        await store.append([usage(), usage()])
        await until(lambda: recorder.positions == [1, 2, 3], recorder.changed)

    await running(subscription, body)
    assert subscription.notifications >= 1
    assert await subscription.checkpoint() == 3


async def test_run_forever_survives_handler_errors_without_skipping(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    recorder = Recorder()
    subscription = Subscription(engine, "s", recorder.handle, poll_interval=NEVER, initial_backoff=0.01)

    async def body() -> None:
        recorder.fail_times = 3
        await store.append([usage(), usage()])
        await until(lambda: len(recorder.batches) >= 4, recorder.changed)
        await store.append([usage()])
        await until(lambda: 3 in recorder.positions, recorder.changed)

    await running(subscription, body)
    assert subscription.errors == 3
    # The failed batch came back whole each time until it went through; then the next event followed.
    assert recorder.batches == [[1, 2], [1, 2], [1, 2], [1, 2], [3]]
    assert await subscription.checkpoint() == 3


async def test_a_transactional_handler_commits_with_the_checkpoint_or_not_at_all(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(3)])
    fail = True

    async def mirror(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        # The handler's own state: here, a second checkpoint row written through the same connection.
        await set_checkpoint(conn, "mirror", batch[-1].position)
        if fail:
            raise RuntimeError("crash after writing")

    subscription = Subscription(engine, "s", transactional=mirror)
    with pytest.raises(RuntimeError):
        await subscription.catch_up()
    async with engine.connect() as conn:
        assert (await load_checkpoint(conn, "mirror"), await load_checkpoint(conn, "s")) == (0, 0)

    fail = False
    assert await subscription.catch_up() == 3
    async with engine.connect() as conn:
        assert (await load_checkpoint(conn, "mirror"), await load_checkpoint(conn, "s")) == (3, 3)


async def test_a_transactional_subscription_follows_a_checkpoint_moved_by_someone_else(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(3)])
    seen: list[int] = []

    async def record(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        seen.extend(event.position for event in batch)

    subscription = Subscription(engine, "s", transactional=record)
    assert await subscription.catch_up() == 3
    await store.append([usage() for _ in range(4)])
    # Another instance (or a rebuild) has already handled up to 5 while this one was idle.
    async with engine.begin() as conn:
        await set_checkpoint(conn, "s", 5)

    assert await subscription.catch_up() == 2
    assert seen == [1, 2, 3, 6, 7]


async def test_a_subscription_needs_exactly_one_handler(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Subscription(engine, "s")
