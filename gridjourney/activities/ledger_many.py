"""The send ledger for many keys at once: the moves of a cohort chunk (activities/send_batch.py).

The same moves as activities/ledger.py, under the same owner/lease rules (activities/ledger_rows.py),
for the keys of one chunk. Each returns the keys it moved: a key missing from the answer is not (or no
longer) this attempt's.

Every statement takes its keys as one array parameter (`= ANY(:keys)`, or `unnest` of parallel arrays
where each key has its own values), so its text is the same for any number of keys: SQLAlchemy
compiles it once, and psycopg prepares it once per connection. The statements are built once, here.

Locks: every statement that locks many rows does it in key order (`key_ordered_lock`), and a
chunk's rows with different values (channels, outcomes) move in one statement, not one per value, so
statements on overlapping keys queue instead of deadlocking. The lease keeper's renewal never waits
for a lock at all (`renew_many`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Interval,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert, ReturningUpdate
from sqlalchemy.sql.selectable import CTE

from gridjourney.activities.ledger_rows import (
    AMBIGUOUS,
    CALLING,
    CLAIMED,
    COMPLETED,
    OWNED,
    RELEASED,
    SENDING,
    LedgerRow,
    key_ordered_lock,
    ledger_row_of_columns,
    take_over,
)
from gridjourney.db.tables import send_ledger

_TEXTS = ARRAY(Text)
KEYS = bindparam("keys", type_=_TEXTS)
TOKEN = bindparam("token", type_=String)
LEASE = bindparam("lease", type_=Interval)
NOTE = bindparam("note", type_=Text)
_EXPIRES = func.now() + LEASE


def _locked(*statuses: str, skip_locked: bool = False) -> CTE:
    """The rows of :keys that :token owns in one of `statuses`, locked in key order; a move joins them."""
    owned = and_(
        send_ledger.c.idempotency_key == any_(KEYS),
        send_ledger.c.owner == TOKEN,
        send_ledger.c.status.in_(statuses),
    )
    return key_ordered_lock(owned, skip_locked=skip_locked)


def _moving(*statuses: str, skip_locked: bool = False, **values: Any) -> ReturningUpdate[str]:
    locked = _locked(*statuses, skip_locked=skip_locked)
    return (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == locked.c.idempotency_key)
        .values(**values)
        .returning(send_ledger.c.idempotency_key)
    )


async def _moved_keys(
    conn: AsyncConnection, statement: ReturningUpdate[str] | ReturningInsert[str], **params: Any
) -> set[str]:
    # .all(): one fetch of the buffered rows, not a driver call per row
    return set((await conn.execute(statement, params)).scalars().all())


# --- owning the keys --------------------------------------------------------------------------------
_NEW = (
    func.unnest(KEYS, bindparam("customer_ids", type_=_TEXTS))
    .table_valued("key", "customer_id")
    .render_derived(name="new")
)
_NEW_ROWS = select(
    _NEW.c.key,
    _NEW.c.customer_id,
    literal(CLAIMED),
    TOKEN,
    _EXPIRES,
    bindparam("purpose", type_=String),
    bindparam("journey_id", type_=String),
    bindparam("step_id", type_=String),
    literal(1),
).order_by(_NEW.c.key)  # the upsert locks conflicting rows in the order of its rows: key order
_COLUMNS = ("idempotency_key", "customer_id", "status", "owner", "lease_expires_at", "purpose")
_ACQUIRE = take_over(
    insert(send_ledger).from_select([*_COLUMNS, "journey_id", "step_id", "attempts"], _NEW_ROWS),
    TOKEN,
    _EXPIRES,
).returning(*send_ledger.c)
_ROWS_OF = select(send_ledger).where(send_ledger.c.idempotency_key == any_(KEYS))


async def acquire_many(
    conn: AsyncConnection,
    entries: Mapping[str, str],
    token: str,
    lease: timedelta,
    *,
    purpose: str,
    journey_id: str,
    step_id: str,
) -> dict[str, LedgerRow]:
    """`acquire` for key → customer id, in one statement: the rows this attempt now owns, by key."""
    if not entries:
        return {}
    keys = list(entries)
    params = {
        "keys": keys,
        "customer_ids": [entries[key] for key in keys],
        "token": token,
        "lease": lease,
        "purpose": purpose,
        "journey_id": journey_id,
        "step_id": step_id,
    }
    rows = map(ledger_row_of_columns, (await conn.execute(_ACQUIRE, params)).all())
    return {row.idempotency_key: row for row in rows}


_FIRST = (
    func.unnest(
        KEYS,
        bindparam("customer_ids", type_=_TEXTS),
        bindparam("channels", type_=_TEXTS),
    )
    .table_valued("key", "customer_id", "channel")
    .render_derived(name="first")
)
_CHOSEN_FIRST = _FIRST.c.channel.is_not(None)
_FIRST_ROWS = select(
    _FIRST.c.key,
    _FIRST.c.customer_id,
    case((_CHOSEN_FIRST, literal(SENDING)), else_=literal(CLAIMED)),
    _FIRST.c.channel,
    case((_CHOSEN_FIRST, bindparam("at", type_=DateTime(timezone=True)))),
    TOKEN,
    _EXPIRES,
    bindparam("purpose", type_=String),
    bindparam("journey_id", type_=String),
    bindparam("step_id", type_=String),
    literal(1),
).order_by(_FIRST.c.key)
_CLAIM_NEW = (
    insert(send_ledger)
    .from_select(
        [
            "idempotency_key",
            "customer_id",
            "status",
            "channel",
            "reserved_at",
            "owner",
            "lease_expires_at",
            "purpose",
            "journey_id",
            "step_id",
            "attempts",
        ],
        _FIRST_ROWS,
    )
    .on_conflict_do_nothing(index_elements=[send_ledger.c.idempotency_key])
    .returning(send_ledger.c.idempotency_key)
)


async def claim_new_many(
    conn: AsyncConnection,
    entries: Mapping[str, tuple[str, str | None]],
    token: str,
    lease: timedelta,
    *,
    purpose: str,
    journey_id: str,
    step_id: str,
    at: datetime,
) -> set[str]:
    """The first claim of keys that have no row yet, key → (customer id, chosen channel or None), in
    one statement, after `lock_customers`: a key whose channel is chosen starts as `sending`, reserved
    at `at` (it counts against the caps from now, as `reserve_many` would make it), the others as
    `claimed`. One write a message fewer than `acquire_many` then `reserve_many`. The keys this
    attempt now owns: a key that another attempt claimed in between is left to it."""
    if not entries:
        return set()
    keys = list(entries)
    return await _moved_keys(
        conn,
        _CLAIM_NEW,
        keys=keys,
        customer_ids=[entries[key][0] for key in keys],
        channels=[entries[key][1] for key in keys],
        token=token,
        lease=lease,
        purpose=purpose,
        journey_id=journey_id,
        step_id=step_id,
        at=at,
    )


async def rows_of(conn: AsyncConnection, keys: Collection[str]) -> dict[str, LedgerRow]:
    if not keys:
        return {}
    rows = map(ledger_row_of_columns, (await conn.execute(_ROWS_OF, {"keys": list(keys)})).all())
    return {row.idempotency_key: row for row in rows}


# --- moving owned rows ------------------------------------------------------------------------------
_CHOSEN = (
    func.unnest(KEYS, bindparam("channels", type_=_TEXTS))
    .table_valued("key", "channel")
    .render_derived(name="chosen")
)
_RESERVING = _locked(CLAIMED)
_RESERVE = (
    update(send_ledger)
    .where(
        send_ledger.c.idempotency_key == _RESERVING.c.idempotency_key,
        _CHOSEN.c.key == _RESERVING.c.idempotency_key,
    )
    .values(
        status=SENDING,
        channel=_CHOSEN.c.channel,
        purpose=bindparam("purpose", type_=String),
        reserved_at=bindparam("at", type_=DateTime(timezone=True)),
        lease_expires_at=_EXPIRES,
    )
    .returning(send_ledger.c.idempotency_key)
)
# Renewal skips the rows another transaction holds: see renew_many.
_RENEW = _moving(*OWNED, skip_locked=True, lease_expires_at=_EXPIRES)
_START_CALL = _moving(SENDING, CALLING, status=CALLING, lease_expires_at=_EXPIRES)
_UNRESERVE = _moving(SENDING, CALLING, AMBIGUOUS, status=CLAIMED, channel=None, reserved_at=None)
_RELEASE = _moving(
    *OWNED, status=RELEASED, channel=None, reserved_at=None, owner=None, lease_expires_at=None, note=NOTE
)
_MARK_AMBIGUOUS = _moving(
    *OWNED,
    status=AMBIGUOUS,
    owner=None,
    lease_expires_at=func.now() + bindparam("look_up_after", type_=Interval),
    note=NOTE,
)


async def reserve_many(
    conn: AsyncConnection,
    chosen: Mapping[str, str],
    token: str,
    purpose: str,
    lease: timedelta,
    *,
    at: datetime,
) -> set[str]:
    """`reserve` for key → chosen channel, in one statement, after `lock_customers`."""
    if not chosen:
        return set()
    keys = list(chosen)
    channels = [chosen[key] for key in keys]
    return await _moved_keys(
        conn, _RESERVE, keys=keys, channels=channels, token=token, purpose=purpose, lease=lease, at=at
    )


async def renew_many(conn: AsyncConnection, keys: Collection[str], token: str, lease: timedelta) -> set[str]:
    """Keep the leases of the keys alive (the lease keeper of a chunk, in its own transaction).

    A row that another transaction holds locked is skipped, not waited for, so the keeper can never
    be one side of a deadlock. That loses nothing: the lock holder is either this chunk's own attempt
    moving the row (each of its moves sets a fresh lease or ends the ownership; if it rolls back, the
    next renewal, a quarter lease later, finds the row free) or another attempt taking the row over,
    which it can only do once this lease has already run out."""
    if not keys:
        return set()
    return await _moved_keys(conn, _RENEW, keys=list(keys), token=token, lease=lease)


async def start_call_many(
    conn: AsyncConnection, keys: Collection[str], token: str, lease: timedelta
) -> set[str]:
    if not keys:
        return set()
    return await _moved_keys(conn, _START_CALL, keys=list(keys), token=token, lease=lease)


async def unreserve_many(conn: AsyncConnection, keys: Collection[str], token: str) -> set[str]:
    if not keys:
        return set()
    return await _moved_keys(conn, _UNRESERVE, keys=list(keys), token=token)


async def release_many(conn: AsyncConnection, keys: Collection[str], token: str, note: str) -> set[str]:
    if not keys:
        return set()
    return await _moved_keys(conn, _RELEASE, keys=list(keys), token=token, note=note)


async def mark_ambiguous_many(
    conn: AsyncConnection, keys: Collection[str], token: str, note: str, look_up_after: timedelta
) -> set[str]:
    """`mark_ambiguous` for many keys."""
    if not keys:
        return set()
    return await _moved_keys(
        conn, _MARK_AMBIGUOUS, keys=list(keys), token=token, note=note, look_up_after=look_up_after
    )


@dataclass(frozen=True)
class Completion:
    """One key's outcome for `complete_many`."""

    key: str
    status: str
    channel: str | None
    provider_message_id: str | None
    note: str | None = None


_DONE = (
    func.unnest(
        KEYS,
        bindparam("statuses", type_=_TEXTS),
        bindparam("channels", type_=_TEXTS),
        bindparam("provider_message_ids", type_=_TEXTS),
        bindparam("notes", type_=_TEXTS),
    )
    .table_valued("key", "status", "channel", "provider_message_id", "note")
    .render_derived(name="done")
)
_COMPLETING = _locked(*OWNED)
_COMPLETE = (
    update(send_ledger)
    .where(
        send_ledger.c.idempotency_key == _COMPLETING.c.idempotency_key,
        _DONE.c.key == _COMPLETING.c.idempotency_key,
    )
    .values(
        status=_DONE.c.status,
        channel=_DONE.c.channel,
        provider_message_id=_DONE.c.provider_message_id,
        completed_at=func.now(),
        lease_expires_at=None,
        note=_DONE.c.note,
    )
    .returning(send_ledger.c.idempotency_key)
)


async def complete_many(conn: AsyncConnection, completions: Sequence[Completion], token: str) -> set[str]:
    """`complete` for many keys in one statement (in the transaction that appends their events)."""
    if not completions:
        return set()
    if bad := {c.status for c in completions} - COMPLETED:
        raise ValueError(f"not outcome statuses: {sorted(bad)}")
    return await _moved_keys(
        conn,
        _COMPLETE,
        keys=[c.key for c in completions],
        statuses=[c.status for c in completions],
        channels=[c.channel for c in completions],
        provider_message_ids=[c.provider_message_id for c in completions],
        notes=[c.note for c in completions],
        token=token,
    )
