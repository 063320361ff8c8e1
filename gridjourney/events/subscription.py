"""Subscriptions: read the event log by position from a named checkpoint, woken by LISTEN/NOTIFY.

A subscription hands batches of events, in position order, to its handler and saves the position of
the last event in `subscription_checkpoints` once the handler has succeeded. Delivery is therefore
at-least-once (a crash between handler and checkpoint repeats the batch) and handlers must be
idempotent. A transactional handler gets the connection of the transaction that saves the checkpoint,
so its writes and the checkpoint commit together: exactly-once for state kept in the same database.

Reading `position > checkpoint` never skips an event because the store serializes appends (see
events/store.py): a position becomes visible only after every smaller one has.

One event must never stop the others. When a batch fails, its events are handled one by one: an event
whose handler still fails after `attempts` tries is set aside in `dead_letters` (events/dead_letters.py)
with the error and the subscription goes on; `retry_dead_letters()` replays them later. A transient
error (database connection, Temporal unavailable: events/failures.py) sets nothing aside: the batch
is retried, with backoff, until it goes through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.engine import libpq_url
from gridjourney.events import dead_letters
from gridjourney.events.checkpoints import load_checkpoint as load_checkpoint
from gridjourney.events.checkpoints import lock_checkpoint as lock_checkpoint
from gridjourney.events.checkpoints import save_checkpoint as save_checkpoint
from gridjourney.events.checkpoints import set_checkpoint as set_checkpoint
from gridjourney.events.failures import describe, is_transient
from gridjourney.events.models import StoredEvent
from gridjourney.events.poison import (
    DEFAULT_ATTEMPTS,
    RetryReport,
    TransactionalHandler,
    handle_isolating_failures,
    set_aside,
)
from gridjourney.events.store import NOTIFY_CHANNEL, EventStore

log = logging.getLogger(__name__)

Handler = Callable[[list[StoredEvent]], Awaitable[None]]


# --- the subscription ----------------------------------------------------------------------------
class Subscription:
    """Feeds the log to a handler from a named checkpoint.

    `catch_up()` handles everything up to the head once and raises a transient error (the checkpoint
    stays before the failed batch). `run_forever(stop)` keeps going: on a transient error it logs,
    backs off and retries from the same checkpoint (never skipping); when caught up it sleeps until a
    NOTIFY from the store, or `poll_interval` as a fallback if a notification is lost. Once `stop` is
    set, the batch in hand gets `stop_grace` seconds to finish, then is abandoned (it is delivered
    again after a restart).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        handler: Handler | None = None,
        *,
        transactional: TransactionalHandler | None = None,
        batch_size: int = 500,
        poll_interval: float = 5.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        listen_url: str | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        retry_delay: float = 0.1,
        stop_grace: float = 1.0,
        wanted: Callable[[str], bool] | None = None,
    ) -> None:
        """Give exactly one of `handler` (called, then the checkpoint is saved) and `transactional`
        (called with the connection of the transaction that saves the checkpoint). `wanted`: the event
        types the handler acts on, when it ignores the others (events/store.py `read_wanted_after`):
        it gets only those, and the checkpoint still moves past the others."""
        if (handler is None) == (transactional is None):
            raise ValueError("give exactly one of handler and transactional")
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.stop_grace = stop_grace
        self.wanted = wanted
        # The engine's own URL (with the password) unless given: LISTEN needs a plain libpq connection.
        self.listen_url = listen_url or libpq_url(engine.url.render_as_string(hide_password=False))
        self.store = EventStore(engine)
        self.ready = asyncio.Event()
        """Set once `run_forever` has caught up for the first time (after trying to LISTEN)."""
        self.listening = asyncio.Event()
        """Set while `run_forever`'s LISTEN connection is open."""
        self.notifications = 0
        """NOTIFYs received by `run_forever`'s listener (for tests and metrics)."""
        self.errors = 0
        """Transient errors seen by `run_forever`."""
        self._handler = handler
        self._transactional = transactional
        self._position: int | None = None
        self._moved = asyncio.Event()  # set, then replaced, each time `_position` moves forward
        self._wake = asyncio.Event()
        self._listen_attempted = asyncio.Event()

    async def checkpoint(self) -> int:
        """The saved checkpoint, as in the database."""
        async with self.engine.connect() as conn:
            return await load_checkpoint(conn, self.name)

    @property
    def position(self) -> int | None:
        """The position this instance has handled and saved up to, as it last knew it (None before it
        first read its checkpoint). Another process, or a rebuild, may have moved the saved one further."""
        return self._position

    def next_move(self) -> asyncio.Event:
        """Set when this instance next moves its position forward: a reader in the same process (the
        router waiting for the projections) wakes at once instead of polling. Take it before reading
        `position`, so that a move in between is not missed."""
        return self._moved

    async def catch_up(self) -> int:
        """Handle every event up to the head as of the call; return how many were handed over."""
        head = await self.store.head()
        handled = 0
        while True:
            position = await self._current_position()
            if position >= head:
                return handled
            count = await self._handle_next_batch(position)
            if count is None:
                return handled
            handled += count

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Handle events as they are appended until `stop` is set."""
        listener = asyncio.create_task(self._listen(stop), name=f"subscription-{self.name}-listen")
        try:
            # Listen before the first read, so an append committed in between still wakes us.
            await wait_any(stop, self._listen_attempted, seconds=None)
            backoff = self.initial_backoff
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self._unless_stopped(stop, self._drain(stop))
                except Exception as error:
                    if stop.is_set():
                        break  # the handler was interrupted by the stop (events/failures.py Interrupted)
                    self.errors += 1
                    log.warning("subscription %s: %s; retrying in %.1fs", self.name, describe(error), backoff)
                    self._position = None  # re-read the checkpoint: the failed batch is retried, not skipped
                    await wait_any(stop, seconds=backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                if stop.is_set():
                    break
                backoff = self.initial_backoff
                self.ready.set()
                await wait_any(stop, self._wake, seconds=self.poll_interval)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def retry_dead_letters(self) -> RetryReport:
        """Hand each dead letter's event to the handler again; delete those that now succeed."""
        async with self.engine.connect() as conn:
            letters = await dead_letters.list_for(conn, self.name, limit=1_000_000)
        succeeded = failed = 0
        for letter in letters:
            event = await self.store.get(letter.event_id)
            if event is None:  # the log is append-only, so this only happens if it was tampered with
                failed += 1
                continue
            if await self._retry(event):
                succeeded += 1
            else:
                failed += 1
        return RetryReport(retried=len(letters), succeeded=succeeded, failed=failed)

    # --- internals -------------------------------------------------------------------------------
    async def _current_position(self) -> int:
        if self._position is None:
            self._position = await self.checkpoint()
        return self._position

    async def _drain(self, stop: asyncio.Event) -> None:
        """Handle batches until the log is read to its end. A batch shorter than `batch_size` was the
        end when it was read: an append committed since then has notified (or the poll finds it), so
        no read that would come back empty is made after it."""
        while not stop.is_set():
            handled = await self._handle_next_batch(await self._current_position())
            if handled is None or 0 < handled < self.batch_size:
                return

    async def _unless_stopped(self, stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> None:
        """Run `work`; once `stop` is set, give it `stop_grace` seconds, then cancel it."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=self.stop_grace)
            if not task.done():
                log.warning("subscription %s: abandoning the batch in hand to stop", self.name)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                self._position = None
                return
            await task
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(stopping, task, return_exceptions=True)

    async def _handle_next_batch(self, position: int) -> int | None:
        """Hand over the batch after `position`. The number of events read (0 when another instance
        had moved the checkpoint), or None when there is nothing after `position`."""
        if self.wanted is None:
            batch = await self.store.read_after(position, self.batch_size)
            if not batch:
                return None
            last, read = batch[-1].position, len(batch)
        else:
            batch, reached, read = await self.store.read_wanted_after(position, self.wanted, self.batch_size)
            if reached is None:
                return None
            last = reached
        if self._transactional is not None:
            async with self.engine.begin() as conn:
                saved = await lock_checkpoint(conn, self.name)
                if saved != position:
                    # Someone else (another instance, a rebuild) moved it: continue from theirs.
                    self._move_to(saved)
                    return 0
                if batch:
                    await handle_isolating_failures(
                        conn, self.name, batch, self._transactional, attempts=self.attempts
                    )
                await set_checkpoint(conn, self.name, last)
        else:
            assert self._handler is not None
            try:
                if batch:
                    await self._handler(batch)
            except Exception as error:
                if is_transient(error):
                    raise
                log.warning(
                    "subscription %s: batch %d-%d failed (%s); handling its events one by one",
                    self.name,
                    batch[0].position,
                    last,
                    describe(error),
                )
                await self._handle_one_by_one(batch)
            async with self.engine.begin() as conn:
                await save_checkpoint(conn, self.name, last)
        self._move_to(last)
        return read

    def _move_to(self, position: int) -> None:
        self._position = position
        self._moved.set()
        self._moved = asyncio.Event()

    async def _handle_one_by_one(self, batch: list[StoredEvent]) -> None:
        """Each event of a failed batch on its own, with quick retries; the checkpoint follows each."""
        assert self._handler is not None
        for event in batch:
            failure: Exception | None = None
            for attempt in range(self.attempts):
                try:
                    await self._handler([event])
                except Exception as error:
                    if is_transient(error):
                        raise
                    failure = error
                    if attempt + 1 < self.attempts:
                        await asyncio.sleep(self.retry_delay * 2**attempt)
                else:
                    failure = None
                    break
            async with self.engine.begin() as conn:
                if failure is not None:
                    await set_aside(conn, self.name, event, failure, self.attempts)
                await save_checkpoint(conn, self.name, event.position)
            self._move_to(event.position)

    async def _retry(self, event: StoredEvent) -> bool:
        """One more try for a dead letter's event: True (and the dead letter deleted) if it went through."""
        async with self.engine.begin() as conn:
            if self._transactional is not None:
                await lock_checkpoint(conn, self.name)  # not concurrently with a running instance
                try:
                    async with conn.begin_nested():
                        await self._transactional(conn, [event])
                except Exception as error:
                    if is_transient(error):
                        raise
                    await set_aside(conn, self.name, event, error, 1)
                    return False
            else:
                assert self._handler is not None
                try:
                    await self._handler([event])
                except Exception as error:
                    if is_transient(error):
                        raise
                    await set_aside(conn, self.name, event, error, 1)
                    return False
            await dead_letters.remove(conn, self.name, event.position)
        return True

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keep a LISTEN connection open and turn every notification into a wake-up."""
        backoff = self.initial_backoff
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    self._listen_attempted.set()
                    self._wake.set()  # anything committed while we were not listening gets read now
                    backoff = self.initial_backoff
                    async for _ in conn.notifies():
                        self.notifications += 1
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The poll fallback keeps the subscription going while the listener reconnects.
                log.warning("subscription %s: LISTEN connection failed (%s); retrying", self.name, error)
            self.listening.clear()
            self._listen_attempted.set()
            await wait_any(stop, seconds=backoff)
            backoff = min(backoff * 2, self.max_backoff)


async def wait_any(*events: asyncio.Event, seconds: float | None) -> None:
    """Return when any of `events` is set or after `seconds` (None: no time limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
