"""The send ledger: every SQL statement on `send_ledger`, in one place.

A row is owned by the attempt that acquired it: each attempt draws a fresh token, and every later
move of the row names the key AND the token, and says whether it happened. An attempt whose lease
ran out (and was taken over) can then neither reserve, send, complete nor release: its statements
match no row and it raises ClaimLost. Statuses:

    claimed     an attempt owns the key; the provider has not been called
    sending     a channel is reserved (it counts against frequency caps); the provider is not called yet
    calling     the provider is being called (set right before the call): it may have the message
    ambiguous   the provider may have the message and cannot tell us: the next attempt looks it up,
                or, when the provider cannot answer, the row waits for an operator (`note` says why)
    released    given back (nothing was sent: a retry, a deferral or an operator's "not sent")
    sent | suppressed | failed      the outcome, recorded in the same transaction as its event

A row whose owner is gone (lease expired, or no owner) is taken over by the next attempt, which
counts in `attempts`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, Update, and_, column, func, literal, or_, select, text, update, values
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gridjourney.db.tables import send_ledger

CLAIMED = "claimed"
SENDING = "sending"
CALLING = "calling"
AMBIGUOUS = "ambiguous"
RELEASED = "released"
COMPLETED = frozenset({"sent", "suppressed", "failed"})
OPEN = (CLAIMED, SENDING, CALLING, AMBIGUOUS, RELEASED)
# The provider may have the message: a take-over (or a give-up) looks it up first.
IN_DOUBT = (CALLING, AMBIGUOUS)
STATUSES = (CLAIMED, SENDING, CALLING, AMBIGUOUS, RELEASED, "sent", "suppressed", "failed")
# First key of the two-key advisory locks on customers (the second is hashtext(customer_id)).
CUSTOMER_LOCK_CLASS = 7301


class ClaimLost(RuntimeError):
    """This attempt no longer owns the ledger row (its lease ran out and another attempt took the
    key over, or an operator resolved it): it must neither send nor record anything."""

    def __init__(self, key: str, step: str) -> None:
        super().__init__(f"{key}: this attempt no longer owns the send (lost before: {step})")
        self.key = key
        self.step = step


@dataclass(frozen=True)
class LedgerRow:
    idempotency_key: str
    customer_id: str
    channel: str | None
    status: str
    provider_message_id: str | None
    claimed_at: datetime
    completed_at: datetime | None
    owner: str | None = None
    lease_expires_at: datetime | None = None
    purpose: str | None = None
    reserved_at: datetime | None = None
    journey_id: str | None = None
    step_id: str | None = None
    attempts: int = 1
    note: str | None = None

    @property
    def completed(self) -> bool:
        return self.status in COMPLETED


def _row(mapping: object) -> LedgerRow:
    return LedgerRow(**dict(mapping))  # type: ignore[call-overload]


def _unowned() -> ColumnElement[bool]:
    """The row's attempt is gone: released, never owned, or its lease ran out."""
    return or_(
        send_ledger.c.status == RELEASED,
        send_ledger.c.owner.is_(None),
        send_ledger.c.lease_expires_at.is_(None),
        send_ledger.c.lease_expires_at < func.now(),
    )


def _take_over(statement: Insert, token: str, expires: ColumnElement[datetime]) -> Insert:
    """The claim of a new key, or the take-over of an open row whose attempt is gone (one rule for
    `acquire` and `acquire_many`): this attempt owns it, counted in `attempts`; a released row is
    claimed again, any other keeps its status for the new owner to resume from."""
    return statement.on_conflict_do_update(
        index_elements=[send_ledger.c.idempotency_key],
        set_={
            "owner": token,
            "lease_expires_at": expires,
            "attempts": send_ledger.c.attempts + 1,
            "status": func.coalesce(func.nullif(send_ledger.c.status, literal(RELEASED)), literal(CLAIMED)),
            "purpose": func.coalesce(send_ledger.c.purpose, statement.excluded.purpose),
            "journey_id": func.coalesce(send_ledger.c.journey_id, statement.excluded.journey_id),
            "step_id": func.coalesce(send_ledger.c.step_id, statement.excluded.step_id),
        },
        where=and_(send_ledger.c.status.in_(OPEN), _unowned()),
    )


def _owned(key: str, token: str, *statuses: str) -> ColumnElement[bool]:
    return and_(
        send_ledger.c.idempotency_key == key,
        send_ledger.c.owner == token,
        send_ledger.c.status.in_(statuses),
    )


async def acquire(
    conn: AsyncConnection,
    key: str,
    token: str,
    lease: timedelta,
    *,
    customer_id: str,
    purpose: str | None = None,
    journey_id: str | None = None,
    step_id: str | None = None,
) -> LedgerRow | None:
    """Own the key: a new row, or one whose attempt is gone. None when it is completed or another
    attempt holds it. The returned status tells the caller where the last attempt stopped: `claimed`
    or `sending` (nothing reached the provider), `calling` or `ambiguous` (the provider may have
    the message).
    A released row comes back as `claimed`. The condition is checked under the row lock, so of
    several callers exactly one wins."""
    expires = func.now() + lease
    statement = insert(send_ledger).values(
        idempotency_key=key,
        customer_id=customer_id,
        status=CLAIMED,
        owner=token,
        lease_expires_at=expires,
        purpose=purpose,
        journey_id=journey_id,
        step_id=step_id,
        attempts=1,
    )
    upsert = _take_over(statement, token, expires).returning(*send_ledger.c)
    row = (await conn.execute(upsert)).mappings().first()
    return None if row is None else _row(row)


async def get(engine: AsyncEngine, key: str) -> LedgerRow | None:
    async with engine.connect() as conn:
        return await get_in(conn, key)


async def get_in(conn: AsyncConnection, key: str) -> LedgerRow | None:
    row = (
        (await conn.execute(select(send_ledger).where(send_ledger.c.idempotency_key == key)))
        .mappings()
        .first()
    )
    return None if row is None else _row(row)


async def _moved(conn: AsyncConnection, statement: object) -> bool:
    result = await conn.execute(statement.returning(send_ledger.c.idempotency_key))  # type: ignore[attr-defined]
    return result.first() is not None


async def reserve(
    conn: AsyncConnection,
    key: str,
    token: str,
    channel: str,
    purpose: str,
    lease: timedelta,
    *,
    at: datetime | None = None,
) -> bool:
    """claimed → sending: the channel is chosen and counts against the customer's caps from `at` on.
    Run in the eligibility transaction, after `lock_customer`. `at`: the decision's time, on the
    clock the caps' windows are counted by (activities/__init__.py `decision_time`); None: the
    database's now."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED))
        .values(
            status=SENDING,
            channel=channel,
            purpose=purpose,
            reserved_at=func.now() if at is None else at,
            lease_expires_at=func.now() + lease,
        )
    )
    return await _moved(conn, statement)


async def renew(conn: AsyncConnection, key: str, token: str, lease: timedelta) -> bool:
    """Keep the lease alive (each heartbeat, and right before the provider call)."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(lease_expires_at=func.now() + lease)
    )
    return await _moved(conn, statement)


async def start_call(conn: AsyncConnection, key: str, token: str, lease: timedelta) -> bool:
    """sending → calling, with a fresh lease, right before the provider call: from here on the provider
    may have the message, so a take-over looks it up before sending again."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, SENDING, CALLING))
        .values(status=CALLING, lease_expires_at=func.now() + lease)
    )
    return await _moved(conn, statement)


async def complete(
    conn: AsyncConnection,
    key: str,
    token: str,
    status: str,
    channel: str | None,
    provider_message_id: str | None,
    note: str | None = None,
) -> bool:
    """Record the outcome (in the transaction that appends its event)."""
    if status not in COMPLETED:
        raise ValueError(f"not an outcome status: {status!r}")
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(
            status=status,
            channel=channel,
            provider_message_id=provider_message_id,
            completed_at=func.now(),
            lease_expires_at=None,
            note=note,
        )
    )
    return await _moved(conn, statement)


async def release(conn: AsyncConnection, key: str, token: str, note: str) -> bool:
    """Give the key back: nothing was sent, and the next attempt sends afresh."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(status=RELEASED, channel=None, reserved_at=None, owner=None, lease_expires_at=None, note=note)
    )
    return await _moved(conn, statement)


async def mark_ambiguous(conn: AsyncConnection, key: str, token: str, note: str) -> bool:
    """The provider may have the message and cannot tell us. The owner lets go at once, so the next
    attempt looks the message up (or holds it for an operator) without waiting for the lease."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(status=AMBIGUOUS, owner=None, lease_expires_at=None, note=note)
    )
    return await _moved(conn, statement)


async def unreserve(conn: AsyncConnection, key: str, token: str) -> bool:
    """sending/calling/ambiguous → claimed: the provider does not have (or never got) the message, so
    this attempt decides and reserves again (the old reservation must not count against the new
    decision's caps)."""
    statement = (
        update(send_ledger)
        .where(_owned(key, token, SENDING, CALLING, AMBIGUOUS))
        .values(status=CLAIMED, channel=None, reserved_at=None)
    )
    return await _moved(conn, statement)


# --- operators: rows in doubt, resolved by hand -------------------------------------------------------
async def list_rows(
    conn: AsyncConnection, status: str | None, *, after_key: str | None = None, limit: int = 100
) -> list[LedgerRow]:
    """Rows by key (stable keyset order), optionally of one status."""
    query = select(send_ledger).order_by(send_ledger.c.idempotency_key).limit(limit)
    if status is not None:
        query = query.where(send_ledger.c.status == status)
    if after_key is not None:
        query = query.where(send_ledger.c.idempotency_key > after_key)
    return [_row(row) for row in (await conn.execute(query)).mappings()]


async def take_for_operator(conn: AsyncConnection, key: str, token: str) -> LedgerRow | None:
    """An operator takes an open row no live attempt holds (same rule as `acquire`), without counting
    an attempt. None: unknown, completed, or still in flight."""
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == key)
        .where(send_ledger.c.status.in_((CLAIMED, SENDING, CALLING, AMBIGUOUS)), _unowned())
        .values(owner=token, lease_expires_at=func.now() + timedelta(minutes=1))
        .returning(*send_ledger.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return None if row is None else _row(row)


# --- frequency caps: counted from the ledger, under a per-customer lock -------------------------------
RESERVED = (SENDING, CALLING, "sent", AMBIGUOUS)  # rows whose message is (or may be) on its way


async def lock_customer(conn: AsyncConnection, customer_id: str) -> None:
    """Serialize the send decisions of one customer until this transaction ends, so that two journeys
    deciding at the same moment cannot both pass a cap of 1."""
    await conn.execute(select(func.pg_advisory_xact_lock(CUSTOMER_LOCK_CLASS, func.hashtext(customer_id))))


async def count_reserved(
    conn: AsyncConnection, customer_id: str, purpose: str, channel: str | None, since: datetime
) -> int:
    """Messages of this purpose (on this channel; None: any) reserved for the customer since `since`."""
    query = (
        select(func.count())
        .select_from(send_ledger)
        .where(
            send_ledger.c.customer_id == customer_id,
            send_ledger.c.purpose == purpose,
            send_ledger.c.status.in_(RESERVED),
            send_ledger.c.reserved_at >= since,
        )
    )
    if channel is not None:
        query = query.where(send_ledger.c.channel == channel)
    return int((await conn.execute(query)).scalar_one())


# --- many keys at once: a cohort batch (activities/send_batch.py) --------------------------------------
# The same moves as above, under the same owner/lease rules, for the keys of one batch. Each returns
# the keys it moved: a key missing from the answer is not (or no longer) this attempt's.
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
    expires = func.now() + lease
    statement = insert(send_ledger).values(
        [
            {
                "idempotency_key": key,
                "customer_id": customer_id,
                "status": CLAIMED,
                "owner": token,
                "lease_expires_at": expires,
                "purpose": purpose,
                "journey_id": journey_id,
                "step_id": step_id,
                "attempts": 1,
            }
            # In key order: the upsert locks conflicting rows in the order of its rows (see
            # _locked_in_key_order).
            for key, customer_id in sorted(entries.items())
        ]
    )
    upsert = _take_over(statement, token, expires).returning(*send_ledger.c)
    return {row.idempotency_key: row for row in map(_row, (await conn.execute(upsert)).mappings())}


async def rows_of(conn: AsyncConnection, keys: Collection[str]) -> dict[str, LedgerRow]:
    query = select(send_ledger).where(send_ledger.c.idempotency_key.in_(list(keys)))
    return {row.idempotency_key: row for row in map(_row, (await conn.execute(query)).mappings())}


async def _moved_keys(conn: AsyncConnection, statement: Update) -> set[str]:
    result = await conn.execute(statement.returning(send_ledger.c.idempotency_key))
    return {key for (key,) in result}


def _owned_keys(keys: Collection[str], token: str, *statuses: str) -> ColumnElement[bool]:
    matching = and_(
        send_ledger.c.idempotency_key.in_(list(keys)),
        send_ledger.c.owner == token,
        send_ledger.c.status.in_(statuses),
    )
    return and_(matching, _locked_in_key_order(matching))


def _locked_in_key_order(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The rows of `condition`, locked first in idempotency_key order (FOR UPDATE above the sort).
    Every many-row UPDATE of send_ledger goes through it, so two of them touching overlapping keys
    (the lease keeper's renew_many and a batch's complete_many) wait for each other in the same
    order instead of deadlocking; the UPDATE then locks only rows this statement already holds."""
    locked = (
        select(send_ledger.c.idempotency_key)
        .where(condition)
        .order_by(send_ledger.c.idempotency_key)
        .with_for_update()
        .cte("locked")
    )
    return send_ledger.c.idempotency_key.in_(select(locked.c.idempotency_key))


async def reserve_many(
    conn: AsyncConnection,
    chosen: Mapping[str, str],
    token: str,
    purpose: str,
    lease: timedelta,
    *,
    at: datetime,
) -> set[str]:
    """`reserve` for key → chosen channel (one statement per channel), after `lock_customers`."""
    moved: set[str] = set()
    for channel in sorted(set(chosen.values())):
        keys = [key for key, chosen_channel in chosen.items() if chosen_channel == channel]
        statement = (
            update(send_ledger)
            .where(_owned_keys(keys, token, CLAIMED))
            .values(
                status=SENDING,
                channel=channel,
                purpose=purpose,
                reserved_at=at,
                lease_expires_at=func.now() + lease,
            )
        )
        moved |= await _moved_keys(conn, statement)
    return moved


async def renew_many(conn: AsyncConnection, keys: Collection[str], token: str, lease: timedelta) -> set[str]:
    statement = (
        update(send_ledger)
        .where(_owned_keys(keys, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(lease_expires_at=func.now() + lease)
    )
    return await _moved_keys(conn, statement)


async def start_call_many(
    conn: AsyncConnection, keys: Collection[str], token: str, lease: timedelta
) -> set[str]:
    statement = (
        update(send_ledger)
        .where(_owned_keys(keys, token, SENDING, CALLING))
        .values(status=CALLING, lease_expires_at=func.now() + lease)
    )
    return await _moved_keys(conn, statement)


async def unreserve_many(conn: AsyncConnection, keys: Collection[str], token: str) -> set[str]:
    statement = (
        update(send_ledger)
        .where(_owned_keys(keys, token, SENDING, CALLING, AMBIGUOUS))
        .values(status=CLAIMED, channel=None, reserved_at=None)
    )
    return await _moved_keys(conn, statement)


async def release_many(conn: AsyncConnection, keys: Collection[str], token: str, note: str) -> set[str]:
    statement = (
        update(send_ledger)
        .where(_owned_keys(keys, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(status=RELEASED, channel=None, reserved_at=None, owner=None, lease_expires_at=None, note=note)
    )
    return await _moved_keys(conn, statement)


async def mark_ambiguous_many(
    conn: AsyncConnection, keys: Collection[str], token: str, note: str
) -> set[str]:
    statement = (
        update(send_ledger)
        .where(_owned_keys(keys, token, CLAIMED, SENDING, CALLING, AMBIGUOUS))
        .values(status=AMBIGUOUS, owner=None, lease_expires_at=None, note=note)
    )
    return await _moved_keys(conn, statement)


@dataclass(frozen=True)
class Completion:
    """One key's outcome for `complete_many`."""

    key: str
    status: str
    channel: str | None
    provider_message_id: str | None
    note: str | None = None


async def complete_many(conn: AsyncConnection, completions: Sequence[Completion], token: str) -> set[str]:
    """`complete` for many keys in one statement (in the transaction that appends their events)."""
    if not completions:
        return set()
    if bad := {c.status for c in completions} - COMPLETED:
        raise ValueError(f"not outcome statuses: {sorted(bad)}")
    done = values(
        column("key", String),
        column("status", String),
        column("channel", String),
        column("provider_message_id", String),
        column("note", String),
        name="done",
    ).data([(c.key, c.status, c.channel, c.provider_message_id, c.note) for c in completions])
    owned = and_(
        send_ledger.c.idempotency_key.in_([c.key for c in completions]),
        send_ledger.c.owner == token,
        send_ledger.c.status.in_((CLAIMED, SENDING, CALLING, AMBIGUOUS)),
    )
    statement = (
        update(send_ledger)
        .where(send_ledger.c.idempotency_key == done.c.key, owned, _locked_in_key_order(owned))
        .values(
            status=done.c.status,
            channel=done.c.channel,
            provider_message_id=done.c.provider_message_id,
            completed_at=func.now(),
            lease_expires_at=None,
            note=done.c.note,
        )
    )
    return await _moved_keys(conn, statement)


async def lock_customers(conn: AsyncConnection, customer_ids: Collection[str]) -> None:
    """`lock_customer` for many customers, in the order of their lock keys: two batches locking
    overlapping customers take the locks in the same order and cannot deadlock."""
    if not customer_ids:
        return
    # The outer select reads the sorted subquery in order, so the locks are taken in that order.
    statement = text(
        "SELECT pg_advisory_xact_lock(:lock_class, k) FROM "
        "(SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST(:ids AS text[])) AS id ORDER BY k) AS keys"
    )
    await conn.execute(statement, {"lock_class": CUSTOMER_LOCK_CLASS, "ids": sorted(customer_ids)})


async def count_reserved_many(
    conn: AsyncConnection,
    customer_ids: Collection[str],
    purpose: str,
    channel: str | None,
    since: datetime,
) -> dict[str, int]:
    """`count_reserved` for many customers in one grouped query (customers without any: absent)."""
    query = (
        select(send_ledger.c.customer_id, func.count())
        .where(
            send_ledger.c.customer_id.in_(list(customer_ids)),
            send_ledger.c.purpose == purpose,
            send_ledger.c.status.in_(RESERVED),
            send_ledger.c.reserved_at >= since,
        )
        .group_by(send_ledger.c.customer_id)
    )
    if channel is not None:
        query = query.where(send_ledger.c.channel == channel)
    return {customer_id: int(count) for customer_id, count in await conn.execute(query)}
