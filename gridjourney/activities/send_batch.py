"""SEND_COHORT_BATCH: one send step for the members of one cohort batch, through the per-customer
send's own pieces (activities/send.py) in bulk.

Per chunk of members: read their ledger rows and take over the open ones an earlier attempt left →
recover rows left in doubt (MessageSending's look-up, per member) → the decisions and reservations,
rendered (activities/batch_decisions.py; a key with no row is claimed there, reserved at once) → per
provider request, `calling` just before it goes, then its outcomes, their events and the members'
moves in one transaction as soon as it answers (activities/batch_calls.py; recorded here). Counts and
heartbeat details: activities/batch_tally.py.

A retry finds the chunk's members where the last attempt left them: moved members are gone from the
track, completed ledger rows are duplicates, rows in doubt are looked up. It reports the whole batch:
the members earlier attempts moved on are counted from the database (their moves and ledger rows are
committed together, while the heartbeat that counted them may have died with the worker), then what
it does itself. Only a `stay` batch, whose members do not move, carries its counts on from the last
heartbeat (a checkpoint taken between chunks: activities/batch_tally.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio import activity

from gridjourney.activities import ledger
from gridjourney.activities.batch_calls import CallResults, call_providers
from gridjourney.activities.batch_decisions import Finished, Pending, decide_chunk, member_request
from gridjourney.activities.batch_tally import BatchProgress, Tally
from gridjourney.activities.send import MessageSending, SendHeld
from gridjourney.channels.base import LookupUnavailable
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.cohorts.queries import (
    FINISHED,
    Member,
    batch_members,
    batch_members_and_moved_on,
    defer_members,
    move_members,
)
from gridjourney.dr.queries import performance_of
from gridjourney.events.models import NewEvent
from gridjourney.workflows.cohort_contracts import BatchOutcome, CohortSendInput
from gridjourney.workflows.contracts import SendMessageInput

log = logging.getLogger(__name__)
BatchHeartbeat = Callable[[BatchProgress], None]
# Provider look-ups at once when a retry finds rows an earlier attempt left in doubt.
RECOVERY_CONCURRENCY = 16
# How far the database's clock may lag Temporal's: a retry counts the members finished since the batch
# was first scheduled, less this (a send step asks its deferred members again a minute later at least).
CLOCK_SKEW = timedelta(seconds=30)


class BatchIncomplete(RuntimeError):
    """Some members met a transient provider error: they wait in the track for the retry."""


class BatchInProgress(BatchIncomplete):
    """Some members' keys are held by another attempt within its lease (after a worker died, its lease
    outlives it): they wait in the track, and the retry, once that lease has run out, redoes them."""


class CohortSending:
    """The batch activity's logic, independent of Temporal (activities/journey_activities.py wraps it).

    `sending`: the per-customer send, whose store, senders, policy, templates, lease and clock this
    shares; `calls`: the provider paths; `chunk_size`: members per ledger/decision/record round."""

    def __init__(self, sending: MessageSending, calls: ProviderCalls, *, chunk_size: int = 500) -> None:
        self.sending = sending
        self.engine = sending.engine
        self.calls = calls
        self.chunk_size = chunk_size

    async def send_batch(
        self,
        request: CohortSendInput,
        heartbeat: BatchHeartbeat | None = None,
        resumed: BatchProgress | None = None,
    ) -> BatchOutcome:
        """`resumed`: the last heartbeat of an earlier attempt of this batch (a `stay` batch carries its
        counts on; any other counts what earlier attempts moved on from the database)."""
        tally = Tally(resumed if request.stay else None)
        retry, since = _earlier_attempts()
        # begin(), not connect(): a read that ends in ROLLBACK makes psycopg forget the connection's
        # prepared statements (db/engine.py), and the chunk's statements would be planned anew.
        async with self.engine.begin() as conn:
            if retry and not request.stay:
                members = await self._count_moved_on(conn, request, tally, since)
            else:
                members = await batch_members(conn, request.batch)
        now = self.sending.clock()
        holdout = [m for m in members if m.holdout]
        waiting = [m for m in members if not m.holdout and m.deferred_until and m.deferred_until > now]
        waiting_nos = {m.member_no for m in waiting}
        for member in waiting:
            tally.deferred(member.deferred_until)  # type: ignore[arg-type]
        if holdout:
            async with self.engine.begin() as conn:
                await self._move(conn, request, [m.customer_id for m in holdout], tally)
            tally.count("holdout", sum(1 for m in holdout if tally.new(m.member_no)))
        others = [m for m in members if not m.holdout and m.member_no not in waiting_nos]
        for start in range(0, len(others), self.chunk_size):
            chunk = others[start : start + self.chunk_size]
            await self._chunk(request, chunk, tally, heartbeat)
            tally.done_through = chunk[-1].member_no
            tally.take_checkpoint()
            if heartbeat is not None:
                heartbeat(tally.checkpoint)
        if tally.counts.get("retrying"):
            raise BatchIncomplete(f"{tally.counts['retrying']} members met a transient provider error")
        if tally.counts.get("in_progress"):
            # Not done: the workflow would take the step as finished and leave them in the track.
            raise BatchInProgress(f"{tally.counts['in_progress']} members are held by another attempt")
        return tally.outcome()

    async def _count_moved_on(
        self, conn: AsyncConnection, request: CohortSendInput, tally: Tally, since: datetime | None
    ) -> list[Member]:
        """Count the members earlier attempts of this batch moved on, from what the database has: a
        holdout, or its ledger row's outcome (a row still in doubt: held for an operator, by _recover).
        Returns the members still waiting."""
        waiting, moved = await batch_members_and_moved_on(
            conn, request.batch, request.next_track, since=since
        )
        keys = [request.idempotency_key(m.customer_id) for m in moved if not m.holdout]
        rows = await ledger.rows_of(conn, keys)
        if not moved:
            return waiting
        tally.count("holdout", len(moved) - len(keys))
        for key in keys:
            row = rows.get(key)
            tally.count(row.status if row is not None and row.completed else "held", 1)
        where = request.next_track or "end"
        tally.moved[where] = tally.moved.get(where, 0) + len(moved)
        return waiting

    # --- one chunk ---------------------------------------------------------------------------------
    async def _chunk(
        self, request: CohortSendInput, chunk: list[Member], tally: Tally, heartbeat: BatchHeartbeat | None
    ) -> None:
        ids = [m.customer_id for m in chunk]
        numbers = {m.customer_id: m.member_no for m in chunk}
        tally.numbers.update(numbers)
        token = str(uuid.uuid4())
        # One transaction (one pool checkout, one BEGIN/COMMIT) reads the members' DR figures and their
        # ledger rows, and takes over the open rows an earlier attempt left: a request's key does not
        # depend on its figures. Keys with no row are claimed with their decisions (one write fewer).
        async with self.engine.begin() as conn:
            performance = await performance_of(conn, request.batch.run_id, ids)
            requests = {
                m.customer_id: member_request(request, m, performance.get(m.customer_id)) for m in chunk
            }
            by_key = {r.idempotency_key: r for r in requests.values()}
            found = await ledger.rows_of(conn, by_key.keys())
            owned = await ledger.acquire_many(
                conn,
                {key: by_key[key].customer_id for key, row in found.items() if not row.completed},
                token,
                self.sending.claim_lease,
                purpose=request.purpose,
                journey_id=request.journey_id,
                step_id=request.batch.step_id,
            )
            others = {key: row for key, row in found.items() if key not in owned}
            duplicates = [by_key[k].customer_id for k, row in others.items() if row.completed]
            await self._move(conn, request, duplicates, tally)
        new_keys = by_key.keys() - found.keys()
        tally.count("duplicate", sum(1 for c in duplicates if tally.new(numbers[c])))
        tally.left_to_retry([by_key[k].customer_id for k, row in others.items() if not row.completed])
        # The keeper renews whatever of the chunk this attempt owns, the new keys once claimed.
        async with self._kept_alive(list(by_key.keys() - others.keys()), token, tally, heartbeat):
            ready = await self._recover(request, by_key, owned, token, tally)
            if ready or new_keys:
                deciding = {*ready, *new_keys}
                keys = [key for key in by_key if key in deciding]  # in member order
                await self._decide_and_send(request, by_key, keys, new_keys, token, tally)

    async def _recover(
        self,
        request: CohortSendInput,
        by_key: dict[str, SendMessageInput],
        owned: dict[str, ledger.LedgerRow],
        token: str,
        tally: Tally,
    ) -> list[str]:
        """Rows an earlier attempt left: `sending` is simply decided again; `calling`/`ambiguous` are
        looked up at the provider by MessageSending (one path for both modes). The keys to decide."""
        ready = [k for k, row in owned.items() if row.status not in ledger.IN_DOUBT]
        reserved = [k for k in ready if owned[k].status == ledger.SENDING]
        if reserved:
            async with self.engine.begin() as conn:
                await ledger.unreserve_many(conn, reserved, token)
        limit = asyncio.Semaphore(RECOVERY_CONCURRENCY)

        async def recover(key: str, row: ledger.LedgerRow) -> None:
            async with limit:
                try:
                    # MessageSending's own recovery: it records what the provider has, or gives the
                    # row back as `claimed` (None) for this attempt to decide afresh.
                    found = await self.sending.look_up_earlier(by_key[key], token, row)
                except SendHeld as error:
                    # Waits for an operator (`gridjourney sends resolve`), its row kept: the member
                    # goes on rather than block the run.
                    log.warning("%s: held for an operator (%s)", key, error)
                    async with self.engine.begin() as conn:
                        await self._move(conn, request, [by_key[key].customer_id], tally)
                    tally.count("held", 1)
                    return
                except (LookupUnavailable, ledger.ClaimLost) as error:
                    log.warning("%s: left in the track for the retry (%s)", key, error)
                    tally.left_to_retry([by_key[key].customer_id])
                    return
                if found is None:
                    ready.append(key)
                    return
                async with self.engine.begin() as conn:
                    await self._move(conn, request, [by_key[key].customer_id], tally)
                tally.count(found.status, 1)

        async with asyncio.TaskGroup() as group:
            for key, row in owned.items():
                if row.status in ledger.IN_DOUBT:
                    group.create_task(recover(key, row))
        return ready

    async def _decide_and_send(
        self,
        request: CohortSendInput,
        by_key: dict[str, SendMessageInput],
        keys: list[str],
        new_keys: set[str],
        token: str,
        tally: Tally,
    ) -> None:
        plan = await decide_chunk(self.sending, request, [by_key[k] for k in keys], token, new_keys)
        tally.left_to_retry(plan.taken_over)  # taken over while deciding: the retry sees to it
        await self._record(request, token, plan.finished, tally)
        await self._defer(request, token, plan.deferred, tally)
        if plan.pending:
            await self._call_to_the_end(request, token, plan.pending, tally)

    async def _call_to_the_end(
        self, request: CohortSendInput, token: str, pending: list[Pending], tally: Tally
    ) -> None:
        """A cancellation (the run exited) lets the chunk's provider calls finish and be recorded,
        then stops the batch before the next chunk: nothing sent is left for a look-up to find."""
        calls = asyncio.create_task(self._call(request, token, pending, tally))
        try:
            await asyncio.shield(calls)
        except asyncio.CancelledError:
            if calls.done():
                raise
            await calls
            raise

    async def _call(self, request: CohortSendInput, token: str, pending: list[Pending], tally: Tally) -> None:
        async def record(results: CallResults) -> None:
            tally.left_to_retry(results.taken_over)  # taken over: the retry sees to it
            await self._record(request, token, results.finished, tally)
            if results.maybe_accepted or results.not_accepted:
                note = "transient provider error"
                async with self.engine.begin() as conn:
                    await ledger.mark_ambiguous_many(
                        conn, results.maybe_accepted, token, note, self.sending.look_up_after
                    )
                    await ledger.release_many(conn, results.not_accepted, token, note)
                tally.count("retrying", len(results.maybe_accepted) + len(results.not_accepted))

        await call_providers(self.sending, self.calls, token, pending, record)

    # --- recording ---------------------------------------------------------------------------------
    async def _record(
        self,
        request: CohortSendInput,
        token: str,
        finished: list[Finished],
        tally: Tally,
    ) -> None:
        """The outcomes, their events and the members' moves in one transaction."""
        if not finished:
            return
        completions = [
            ledger.Completion(r.idempotency_key, o.status, o.channel, o.provider_message_id)
            for r, o, _ in finished
        ]
        async with self.engine.begin() as conn:
            done = await ledger.complete_many(conn, completions, token)
            recorded = [(r, o, e) for r, o, e in finished if r.idempotency_key in done]
            await self._move(conn, request, [r.customer_id for r, _, _ in recorded], tally)
            # Last: the append takes the event log's lock (events/store.py), held to the commit, which
            # every worker's record waits for; the members' move is not done under it.
            await self.sending.store.append_in(conn, [event for _, _, events in recorded for event in events])
        for _, outcome, _ in recorded:
            tally.count(outcome.status, 1)
        # taken over: the retry sees to it
        tally.left_to_retry([r.customer_id for r, _, _ in finished if r.idempotency_key not in done])

    async def _defer(
        self,
        request: CohortSendInput,
        token: str,
        deferred: list[tuple[SendMessageInput, datetime, NewEvent]],
        tally: Tally,
    ) -> None:
        """Quiet hours: the members stay in the track with `deferred_until`, their keys released."""
        by_until: dict[datetime, list[str]] = {}
        async with self.engine.begin() as conn:
            released = await ledger.release_many(
                conn, [r.idempotency_key for r, _, _ in deferred], token, "deferred by quiet hours"
            )
            kept = [(r, until, event) for r, until, event in deferred if r.idempotency_key in released]
            await self.sending.store.append_in(conn, [event for _, _, event in kept])
            for r, until, _ in kept:
                by_until.setdefault(until, []).append(r.customer_id)
            for until, ids in by_until.items():
                await defer_members(conn, request.batch.run_id, ids, until, from_track=request.batch.track)
        for _, until, _ in kept:
            tally.deferred(until)

    async def _move(
        self, conn: AsyncConnection, request: CohortSendInput, customer_ids: Sequence[str], tally: Tally
    ) -> None:
        if not customer_ids or request.stay:
            return  # `stay`: an on_update notice; its members wait where they are
        left = FINISHED if request.next_step is None else None
        run_id, step, track = request.batch.run_id, request.next_step, request.next_track
        owner = request.batch.track  # only members still in this track move: a late attempt moves none
        moved = await move_members(conn, run_id, customer_ids, step, track, left, from_track=owner)
        tally.moved[track or "end"] = tally.moved.get(track or "end", 0) + moved

    @contextlib.asynccontextmanager
    async def _kept_alive(
        self, owned: Collection[str], token: str, tally: Tally, heartbeat: BatchHeartbeat | None
    ) -> AsyncIterator[None]:
        """Renew the chunk's leases and heartbeat while it works (activities/lease.py, for many keys)."""
        every = self.sending.heartbeat_every.total_seconds()

        async def keep() -> None:
            while True:
                if heartbeat is not None:
                    heartbeat(tally.checkpoint)  # not the chunk's counts so far: a retry redoes it
                await asyncio.sleep(every)
                try:
                    async with self.engine.begin() as conn:
                        await ledger.renew_many(conn, owned, token, self.sending.claim_lease)
                except Exception as error:
                    log.warning("cannot renew the batch's leases (%s)", error)

        keeper = asyncio.create_task(keep(), name="cohort batch leases")
        try:
            yield
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)


def _earlier_attempts() -> tuple[bool, datetime | None]:
    """Whether earlier attempts of this batch may have moved members on, and since when: Temporal's
    first scheduling of the batch, less CLOCK_SKEW. Outside an activity (CohortSending called
    directly), maybe, at any time."""
    if not activity.in_activity():
        return True, None
    info = activity.info()
    return info.attempt > 1, info.scheduled_time - CLOCK_SKEW


__all__ = ["BatchHeartbeat", "BatchInProgress", "BatchIncomplete", "BatchProgress", "CohortSending"]
