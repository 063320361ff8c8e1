"""Subscriptions: checkpoints, NOTIFY wake-ups, transient handler errors, restarts, transactional handlers,
poison events set aside as dead letters, their retry, and stopping a stuck handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.events import dead_letters
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
            # A dependency's failure: transient, so the batch is retried and never set aside.
            raise ConnectionError("handler down")


async def letters(engine: AsyncEngine, name: str) -> list[dead_letters.DeadLetter]:
    async with engine.connect() as conn:
        return await dead_letters.list_for(conn, name)


class Poisoned:
    """A handler with a bug that only some events trigger (`poison` holds their positions)."""

    def __init__(self, *poison: int) -> None:
        self.poison = set(poison)
        self.handled: list[int] = []
        self.calls: list[list[int]] = []

    async def handle(self, batch: list[StoredEvent]) -> None:
        self.calls.append([event.position for event in batch])
        for event in batch:
            if event.position in self.poison:
                raise KeyError(f"no rule for event {event.position}")
        self.handled.extend(event.position for event in batch)


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

    with pytest.raises(ConnectionError, match="handler down"):
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
    assert await letters(engine, "s") == []  # transient errors never set an event aside
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
            raise ConnectionError("crash after writing")

    subscription = Subscription(engine, "s", transactional=mirror)
    with pytest.raises(ConnectionError):
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


async def test_an_event_the_handler_keeps_failing_on_is_set_aside_and_the_others_go_through(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(5)])
    handler = Poisoned(3)
    subscription = Subscription(engine, "s", handler.handle, batch_size=10, retry_delay=0.001)

    assert await subscription.catch_up() == 5
    assert handler.handled == [1, 2, 4, 5]
    # The whole batch first, then each event alone; the poisoned one three times.
    assert handler.calls == [[1, 2, 3, 4, 5], [1], [2], [3], [3], [3], [4], [5]]
    assert await subscription.checkpoint() == 5
    [letter] = await letters(engine, "s")
    assert (letter.position, letter.event_type, letter.attempts) == (3, "usage.reduced", 3)
    assert letter.error == "KeyError: 'no rule for event 3'"


async def test_a_transactional_handler_keeps_no_write_of_a_set_aside_event(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(4)])

    async def fold(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        for event in batch:
            # Written before the failure: the savepoint must take it back.
            await set_checkpoint(conn, f"mirror-{event.position}", event.position)
            if event.position == 2:
                raise ValueError("fold bug")

    subscription = Subscription(engine, "s", transactional=fold)
    assert await subscription.catch_up() == 4
    async with engine.connect() as conn:
        mirrored = [await load_checkpoint(conn, f"mirror-{n}") for n in range(1, 5)]
        assert await load_checkpoint(conn, "s") == 4
    assert mirrored == [1, 0, 3, 4]
    assert [(letter.position, letter.error) for letter in await letters(engine, "s")] == [
        (2, "ValueError: fold bug")
    ]


async def test_run_forever_sets_a_poison_event_aside_and_keeps_handling_new_ones(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    handler = Poisoned(1)
    subscription = Subscription(engine, "s", handler.handle, poll_interval=NEVER, retry_delay=0.001)

    async def handled(position: int) -> None:
        async def loop() -> None:
            while position not in handler.handled:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(loop(), timeout=60)

    async def body() -> None:
        await store.append([usage(), usage()])
        await handled(3)
        await store.append([usage()])
        await handled(4)

    await store.append([usage()])  # the poison comes first
    await running(subscription, body)
    assert handler.handled == [2, 3, 4]
    assert subscription.errors == 0
    assert [letter.position for letter in await letters(engine, "s")] == [1]


async def test_retry_replays_dead_letters_and_deletes_those_that_succeed(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(4)])
    handler = Poisoned(2, 3)
    subscription = Subscription(engine, "s", handler.handle, retry_delay=0.001)
    await subscription.catch_up()
    assert [letter.position for letter in await letters(engine, "s")] == [2, 3]

    handler.poison = {3}  # the bug behind event 2 is fixed
    report = await subscription.retry_dead_letters()

    assert (report.retried, report.succeeded, report.failed) == (2, 1, 1)
    assert handler.handled == [1, 4, 2]
    [left] = await letters(engine, "s")
    assert (left.position, left.attempts) == (3, 4)


async def test_retry_of_a_transactional_subscription_commits_the_fold_with_the_deletion(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([usage() for _ in range(2)])
    broken = True

    async def fold(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        for event in batch:
            if broken and event.position == 1:
                raise ValueError("fold bug")
            await set_checkpoint(conn, f"mirror-{event.position}", event.position)

    subscription = Subscription(engine, "s", transactional=fold)
    await subscription.catch_up()
    broken = False
    report = await subscription.retry_dead_letters()

    assert (report.succeeded, report.failed) == (1, 0)
    assert await letters(engine, "s") == []
    async with engine.connect() as conn:
        assert await load_checkpoint(conn, "mirror-1") == 1


async def test_stop_interrupts_a_handler_that_does_not_return(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage()])
    entered = asyncio.Event()

    async def stuck(batch: list[StoredEvent]) -> None:
        entered.set()
        await asyncio.Event().wait()  # never set: a dependency that hangs

    subscription = Subscription(engine, "s", stuck, poll_interval=NEVER, stop_grace=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(subscription.run_forever(stop))
    await asyncio.wait_for(entered.wait(), timeout=60)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert await subscription.checkpoint() == 0  # abandoned, so delivered again after a restart
