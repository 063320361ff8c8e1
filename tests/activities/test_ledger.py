"""The send ledger's ownership rules against real Postgres: only the attempt holding a row moves it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.activities import ledger
from gridjourney.db.tables import send_ledger
from gridjourney.observability.queries import ledger_rows_in_doubt

KEY = "journey:outage:c1:2026-11/notify/c1"
LEASE = timedelta(seconds=60)


def token() -> str:
    return str(uuid.uuid4())


async def acquire(engine: AsyncEngine, owner: str, lease: timedelta = LEASE) -> ledger.LedgerRow | None:
    async with engine.begin() as conn:
        return await ledger.acquire(conn, KEY, owner, lease, customer_id="c1", purpose="safety")


async def expire_lease(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(send_ledger)
            .where(send_ledger.c.idempotency_key == KEY)
            .values(lease_expires_at=send_ledger.c.lease_expires_at - timedelta(hours=1))
        )


async def test_a_key_is_owned_by_one_attempt_while_its_lease_lasts(engine: AsyncEngine) -> None:
    first, second = token(), token()
    row = await acquire(engine, first)
    assert row is not None and (row.status, row.owner, row.attempts) == ("claimed", first, 1)
    assert await acquire(engine, second) is None
    async with engine.begin() as conn:
        assert not await ledger.renew(conn, KEY, second, LEASE)
        assert not await ledger.reserve(conn, KEY, second, "sms", "safety", LEASE)
        assert await ledger.reserve(conn, KEY, first, "sms", "safety", LEASE)
    stored = await ledger.get(engine, KEY)
    assert stored is not None and (stored.status, stored.channel, stored.purpose) == (
        "sending",
        "sms",
        "safety",
    )
    assert stored.reserved_at is not None


async def test_concurrent_acquisitions_have_one_winner(engine: AsyncEngine) -> None:
    rows = await asyncio.gather(*(acquire(engine, token()) for _ in range(8)))
    assert sum(row is not None for row in rows) == 1


async def test_a_stale_owner_can_neither_move_nor_overwrite_the_row(engine: AsyncEngine) -> None:
    stale, fresh = token(), token()
    await acquire(engine, stale)
    async with engine.begin() as conn:
        assert await ledger.reserve(conn, KEY, stale, "sms", "safety", LEASE)
    await expire_lease(engine)
    taken = await acquire(engine, fresh)
    # The new owner learns where the stale attempt stopped (a channel reserved: look it up first).
    assert taken is not None and (taken.status, taken.owner, taken.attempts) == ("sending", fresh, 2)
    async with engine.begin() as conn:
        assert not await ledger.renew(conn, KEY, stale, LEASE)
        assert not await ledger.complete(conn, KEY, stale, "suppressed", None, None)
        assert not await ledger.release(conn, KEY, stale, "stale")
        assert not await ledger.mark_ambiguous(conn, KEY, stale, "stale", timedelta(0))
        assert await ledger.complete(conn, KEY, fresh, "sent", "sms", "SM1")
    row = await ledger.get(engine, KEY)
    assert row is not None and (row.status, row.provider_message_id) == ("sent", "SM1")
    assert await acquire(engine, token()) is None  # completed rows are never taken again


async def test_a_released_row_is_taken_at_once_an_ambiguous_one_after_its_look_up_wait(
    engine: AsyncEngine,
) -> None:
    first, second, third = token(), token(), token()
    await acquire(engine, first)
    async with engine.begin() as conn:
        assert await ledger.release(conn, KEY, first, "deferred")
    again = await acquire(engine, second)
    assert again is not None and (again.status, again.attempts) == ("claimed", 2)
    async with engine.begin() as conn:
        assert await ledger.reserve(conn, KEY, second, "sms", "safety", LEASE)
        assert await ledger.mark_ambiguous(conn, KEY, second, "gateway timeout", timedelta(seconds=30))
        # The timed-out request may still be taken by the provider: nobody looks it up yet.
        assert await ledger.take_for_operator(conn, KEY, token()) is None
    assert await acquire(engine, third) is None
    await expire_lease(engine)
    held = await acquire(engine, third)
    assert held is not None and (held.status, held.note, held.attempts) == ("ambiguous", "gateway timeout", 3)
    async with engine.begin() as conn:
        assert await ledger.unreserve(conn, KEY, third)
    row = await ledger.get(engine, KEY)
    assert row is not None and (row.status, row.channel, row.reserved_at) == ("claimed", None, None)


async def test_released_rows_do_not_count_against_caps(engine: AsyncEngine) -> None:
    owner = token()
    row = await acquire(engine, owner)
    assert row is not None
    async with engine.begin() as conn:
        await ledger.reserve(conn, KEY, owner, "sms", "safety", LEASE)
        assert await ledger.count_reserved(conn, "c1", "safety", "sms", row.claimed_at) == 1
        await ledger.release(conn, KEY, owner, "deferred")
        assert await ledger.count_reserved(conn, "c1", "safety", "sms", row.claimed_at) == 0


async def test_an_operator_takes_only_rows_no_attempt_holds(engine: AsyncEngine) -> None:
    attempt = token()
    await acquire(engine, attempt)
    async with engine.begin() as conn:
        assert await ledger.take_for_operator(conn, KEY, token()) is None  # in flight
        await ledger.mark_ambiguous(conn, KEY, attempt, "timeout", timedelta(0))
        operator = token()
        assert await ledger.take_for_operator(conn, KEY, operator) is not None
        assert await ledger.complete(conn, KEY, operator, "sent", "sms", None, "operator: sent")
    row = await ledger.get(engine, KEY)
    assert row is not None and (row.status, row.note, row.attempts) == ("sent", "operator: sent", 1)


async def test_complete_refuses_a_status_that_is_not_an_outcome(engine: AsyncEngine) -> None:
    owner = token()
    await acquire(engine, owner)
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="not an outcome"):
            await ledger.complete(conn, KEY, owner, "claimed", None, None)


async def test_list_rows_by_status_in_key_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for name in ("b", "a", "c"):
            owner = token()
            await ledger.acquire(conn, name, owner, LEASE, customer_id="c1")
            if name != "c":
                await ledger.mark_ambiguous(conn, name, owner, "timeout", timedelta(0))
        owner = token()
        await ledger.acquire(conn, "d", owner, LEASE, customer_id="c1")
        assert await ledger.complete(conn, "d", owner, "sent", channel="sms", provider_message_id="SM1")
        assert [r.idempotency_key for r in await ledger.list_rows(conn, "ambiguous")] == ["a", "b"]
        assert [r.idempotency_key for r in await ledger.list_rows(conn, "sent")] == ["d"]
        assert await ledger.list_rows(conn, "calling") == []
        after_a = await ledger.list_rows(conn, None, after_key="a")
        assert [r.idempotency_key for r in after_a] == ["b", "c", "d"]
        assert [r.idempotency_key for r in await ledger.list_rows(conn, None, limit=1)] == ["a"]


async def _updates(conn: AsyncConnection) -> tuple[int, int]:
    """This transaction's updates of send_ledger so far: (all, heap-only)."""
    query = text(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'send_ledger'"
    )
    all_updates, heap_only = (await conn.execute(query)).one()
    return int(all_updates), int(heap_only)


async def test_the_moves_of_a_reserved_row_write_no_index_entry(engine: AsyncEngine) -> None:
    # No index covers the status, the owner or the lease (migration 0007): calling, renewing and
    # marking in doubt are heap-only (HOT) updates; the completion leaves the open rows' index.
    owner = token()
    async with engine.begin() as conn:
        await ledger.acquire(conn, KEY, owner, LEASE, customer_id="c1", purpose="safety")
        assert await ledger.reserve(conn, KEY, owner, "sms", "safety", LEASE)
        before = await _updates(conn)
        assert await ledger.start_call(conn, KEY, owner, LEASE)
        assert await ledger.renew(conn, KEY, owner, LEASE)
        await ledger.mark_ambiguous(conn, KEY, owner, "timeout", timedelta(0))
        after = await _updates(conn)
        assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
        assert await ledger_rows_in_doubt(conn) == {"calling": 0, "ambiguous": 1}


async def test_a_row_is_calling_from_right_before_the_provider_call_and_still_counts(
    engine: AsyncEngine,
) -> None:
    owner, stale = token(), token()
    row = await acquire(engine, owner)
    assert row is not None
    async with engine.begin() as conn:
        assert not await ledger.start_call(conn, KEY, owner, LEASE)  # nothing reserved yet
        assert await ledger.reserve(conn, KEY, owner, "sms", "safety", LEASE)
        assert not await ledger.start_call(conn, KEY, stale, LEASE)
        assert await ledger.start_call(conn, KEY, owner, LEASE)
        assert await ledger.count_reserved(conn, "c1", "safety", "sms", row.claimed_at) == 1
    await expire_lease(engine)
    taken = await acquire(engine, token())
    # The provider may have the message: the taker learns it from the status.
    assert taken is not None and taken.status == "calling" and taken.status in ledger.IN_DOUBT
