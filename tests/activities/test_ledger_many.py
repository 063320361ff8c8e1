"""The send ledger for many keys (activities/ledger_many.py) against real Postgres: the same ownership
rules as for one key, one statement text for any number of keys, and no deadlock between a chunk's
moves and its lease keeper."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.activities import ledger
from gridjourney.db.tables import send_ledger

LEASE = timedelta(seconds=60)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def token() -> str:
    return str(uuid.uuid4())


def keys_of(count: int, round_no: int = 0) -> list[str]:
    return [f"cohort:dr:EV-1:notice:{round_no}:c{n:04d}" for n in range(count)]


async def acquire(conn: AsyncConnection, keys: list[str], owner: str) -> dict[str, ledger.LedgerRow]:
    entries = {key: key.rsplit(":", 1)[1] for key in keys}
    return await ledger.acquire_many(
        conn, entries, owner, LEASE, purpose="informational", journey_id="dr", step_id="notice"
    )


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL texts the engine sends to Postgres while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_each_move_is_one_statement_text_whatever_the_number_of_keys(engine: AsyncEngine) -> None:
    # Psycopg prepares a statement per text: the text must not grow with the chunk.
    owner = token()
    texts: dict[int, list[str]] = {}
    for count in (3, 40):
        keys = keys_of(count, round_no=count)
        with statements_sent(engine) as sent:
            async with engine.begin() as conn:
                assert set(await acquire(conn, keys, owner)) == set(keys)
                assert set(await ledger.rows_of(conn, keys)) == set(keys)
                chosen = {key: ("sms" if n % 2 else "email") for n, key in enumerate(keys)}
                assert await ledger.reserve_many(conn, chosen, owner, "informational", LEASE, at=NOW) == set(
                    keys
                )
                assert await ledger.renew_many(conn, keys, owner, LEASE) == set(keys)
                assert await ledger.start_call_many(conn, keys, owner, LEASE) == set(keys)
                done = [ledger.Completion(key, "sent", chosen[key], f"m-{key}") for key in keys]
                assert await ledger.complete_many(conn, done, owner) == set(keys)
        texts[count] = sent
    assert texts[3] == texts[40]


async def test_a_chunk_reserves_each_key_with_its_own_channel_in_one_statement(engine: AsyncEngine) -> None:
    owner, keys = token(), keys_of(6)
    chosen = {key: ("sms", "email", "push")[n % 3] for n, key in enumerate(keys)}
    async with engine.begin() as conn:
        await acquire(conn, keys, owner)
        with statements_sent(engine) as sent:
            reserved = await ledger.reserve_many(conn, chosen, owner, "informational", LEASE, at=NOW)
        assert reserved == set(keys) and len(sent) == 1
        rows = await ledger.rows_of(conn, keys)
    assert {key: (row.status, row.channel, row.reserved_at) for key, row in rows.items()} == {
        key: ("sending", channel, NOW) for key, channel in chosen.items()
    }


async def test_only_the_owner_moves_its_rows_and_each_completion_keeps_its_own_values(
    engine: AsyncEngine,
) -> None:
    owner, other, keys = token(), token(), keys_of(4)
    async with engine.begin() as conn:
        await acquire(conn, keys, owner)
        assert await acquire(conn, keys, other) == {}  # held within the lease
        assert await ledger.renew_many(conn, keys, other, LEASE) == set()
        assert await ledger.release_many(conn, keys[:1], owner, "deferred") == {keys[0]}
        done = [
            ledger.Completion(keys[1], "sent", "sms", "SM1"),
            ledger.Completion(keys[2], "failed", "email", None, note="refused"),
            ledger.Completion(keys[0], "sent", "sms", "SM0"),  # released: no longer this attempt's
        ]
        assert await ledger.complete_many(conn, done, other) == set()
        assert await ledger.complete_many(conn, done, owner) == {keys[1], keys[2]}
        assert await ledger.mark_ambiguous_many(conn, keys, owner, "timeout", timedelta(0)) == {keys[3]}
        rows = await ledger.rows_of(conn, keys)
    assert [(rows[k].status, rows[k].channel, rows[k].provider_message_id, rows[k].note) for k in keys] == [
        ("released", None, None, "deferred"),
        ("sent", "sms", "SM1", None),
        ("failed", "email", None, "refused"),
        ("ambiguous", None, None, "timeout"),
    ]
    async with engine.begin() as conn:  # released and ambiguous rows are taken over at once
        taken = await acquire(conn, keys, other)
    assert {key: (row.status, row.attempts) for key, row in taken.items()} == {
        keys[0]: ("claimed", 2),
        keys[3]: ("ambiguous", 2),
    }


async def test_renewal_skips_rows_the_chunk_is_moving_instead_of_waiting_for_them(
    engine: AsyncEngine,
) -> None:
    # The deadlock the bench met: a chunk's transaction had locked some rows (one statement per
    # channel: email keys, then sms keys) while the lease keeper locked all of them in key order.
    # The keeper held k0 and waited for k1; the chunk then wanted k0. Now the keeper never waits.
    owner, keys = token(), keys_of(3)
    async with engine.begin() as conn:
        await acquire(conn, keys, owner)
    async with engine.connect() as chunk, chunk.begin():
        assert await ledger.reserve_many(chunk, {keys[1]: "email"}, owner, "informational", LEASE, at=NOW)

        async def keeper() -> set[str]:
            async with engine.begin() as conn:
                return await ledger.renew_many(conn, keys, owner, LEASE)

        assert await asyncio.wait_for(keeper(), timeout=10) == {keys[0], keys[2]}
        assert await ledger.reserve_many(chunk, {keys[0]: "sms"}, owner, "informational", LEASE, at=NOW)
    async with engine.begin() as conn:  # the skipped row is renewed by the next round
        assert await ledger.renew_many(conn, keys, owner, LEASE) == set(keys)


async def test_renewing_and_completing_overlapping_keys_at_once_never_deadlock(engine: AsyncEngine) -> None:
    # The lease keeper renews a batch's keys while the batch completes them, in the opposite order:
    # the completion locks its rows in key order and the renewal skips what is locked, so neither
    # raises DeadlockDetected (an error raised out of either task fails the test).
    owner = token()
    for round_no in range(15):
        keys = keys_of(400, round_no)
        shuffled = random.Random(round_no).sample(keys, len(keys))
        async with engine.begin() as conn:
            for start in range(0, len(shuffled), 100):  # rows stored out of key order
                await acquire(conn, shuffled[start : start + 100], owner)

        async def renew(keys: list[str]) -> None:
            for _ in range(4):
                async with engine.begin() as conn:
                    await ledger.renew_many(conn, keys, owner, LEASE)

        async def complete(keys: list[str]) -> set[str]:
            done = [ledger.Completion(key, "sent", "email", f"m-{key}") for key in reversed(keys)]
            async with engine.begin() as conn:
                return await ledger.complete_many(conn, done, owner)

        _, completed = await asyncio.gather(renew(keys), complete(keys))
        assert completed == set(keys)


async def test_caps_count_and_lock_many_customers(engine: AsyncEngine) -> None:
    owner, keys = token(), keys_of(4)
    async with engine.begin() as conn:
        await acquire(conn, keys, owner)
        chosen = {keys[0]: "sms", keys[1]: "sms", keys[2]: "email"}
        await ledger.reserve_many(conn, chosen, owner, "informational", LEASE, at=NOW)
        await ledger.lock_customers(conn, ["c0000", "c0001", "c0003"])
        since = NOW - timedelta(hours=1)
        customers = ["c0000", "c0001", "c0002", "c0003"]
        assert await ledger.count_reserved_many(conn, customers, "informational", None, since) == {
            "c0000": 1,
            "c0001": 1,
            "c0002": 1,
        }
        assert await ledger.count_reserved_many(conn, customers, "informational", "sms", since) == {
            "c0000": 1,
            "c0001": 1,
        }
        assert await ledger.count_reserved_many(conn, customers, "safety", None, since) == {}
        await conn.execute(update(send_ledger).values(reserved_at=since - timedelta(seconds=1)))
        assert await ledger.count_reserved_many(conn, customers, "informational", None, since) == {}


async def claim_new(conn: AsyncConnection, first: dict[str, str | None], owner: str) -> set[str]:
    entries = {key: (key.rsplit(":", 1)[1], channel) for key, channel in first.items()}
    return await ledger.claim_new_many(
        conn, entries, owner, LEASE, purpose="informational", journey_id="dr", step_id="notice", at=NOW
    )


async def test_new_keys_are_claimed_with_their_decision_in_one_statement(engine: AsyncEngine) -> None:
    owner, other, keys = token(), token(), keys_of(3)
    async with engine.begin() as conn:
        await acquire(conn, keys[2:], other)
        with statements_sent(engine) as sent:
            claimed = await claim_new(conn, {keys[0]: "sms", keys[1]: None, keys[2]: "email"}, owner)
        assert claimed == {keys[0], keys[1]} and len(sent) == 1  # keys[2] was another attempt's
        rows = await ledger.rows_of(conn, keys)
        assert [(rows[k].status, rows[k].channel, rows[k].reserved_at, rows[k].owner) for k in keys] == [
            ("sending", "sms", NOW, owner),
            ("claimed", None, None, owner),
            ("claimed", None, None, other),
        ]
        assert rows[keys[0]].lease_expires_at is not None and rows[keys[0]].attempts == 1
        since = NOW - timedelta(hours=1)
        assert await ledger.count_reserved_many(conn, ["c0000", "c0001"], "informational", None, since) == {
            "c0000": 1
        }
        # The owner moves them on as rows it acquired: calling, or an outcome.
        assert await ledger.start_call_many(conn, keys, owner, LEASE) == {keys[0]}
        suppressed = [ledger.Completion(keys[1], "suppressed", None, None)]
        assert await ledger.complete_many(conn, suppressed, owner) == {keys[1]}
        assert await claim_new(conn, {keys[0]: "sms"}, other) == set()
