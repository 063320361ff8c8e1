"""The send ledger's rows and the rules every statement on `send_ledger` shares (activities/ledger.py
for one key, activities/ledger_many.py for many).

A row is owned by the attempt that acquired it: each attempt draws a fresh token, and every later
move of the row names the key AND the token, and says whether it happened. An attempt whose lease
ran out (and was taken over) can then neither reserve, send, complete nor release: its statements
match no row and it raises ClaimLost. Statuses:

    claimed     an attempt owns the key; the provider has not been called
    sending     a channel is reserved (it counts against frequency caps); the provider is not called yet.
                A cohort chunk claims a key with no row straight as `sending` when its channel is
                already chosen (ledger_many.claim_new_many)
    calling     the provider is being called (set right before the call): it may have the message
    ambiguous   the provider may have the message and cannot tell us: the next attempt looks it up,
                or, when the provider cannot answer, the row waits for an operator (`note` says why).
                The owner lets go, but the row keeps a lease (`look_up_after`): a request that
                timed out may still be taken by the provider after the client gave up, so nobody
                looks it up (and perhaps sends again) until any such request has surely landed
    released    given back (nothing was sent: a retry, a deferral or an operator's "not sent")
    sent | suppressed | failed      the outcome, recorded in the same transaction as its event

A row whose lease has run out (or that has none) is taken over by the next attempt, which counts in
`attempts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from gridjourney.db.tables import send_ledger

CLAIMED = "claimed"
SENDING = "sending"
CALLING = "calling"
AMBIGUOUS = "ambiguous"
RELEASED = "released"
COMPLETED = frozenset({"sent", "suppressed", "failed"})
OPEN = (CLAIMED, SENDING, CALLING, AMBIGUOUS, RELEASED)
# Statuses an owner can still move its row from (released rows have no owner).
OWNED = (CLAIMED, SENDING, CALLING, AMBIGUOUS)
# The provider may have the message: a take-over (or a give-up) looks it up first.
IN_DOUBT = (CALLING, AMBIGUOUS)
STATUSES = (CLAIMED, SENDING, CALLING, AMBIGUOUS, RELEASED, "sent", "suppressed", "failed")
RESERVED = (SENDING, CALLING, "sent", AMBIGUOUS)  # rows whose message is (or may be) on its way
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


def ledger_row(mapping: object) -> LedgerRow:
    """A row of `send_ledger` (a result mapping) as a LedgerRow."""
    return LedgerRow(**dict(mapping))  # type: ignore[call-overload]


# LedgerRow's fields are send_ledger's columns in table order, so a row of `select(send_ledger)` (or
# RETURNING every column) fills it by position: no mapping built per row (a cohort chunk reads one a
# message).
if [f.name for f in fields(LedgerRow)] != [c.name for c in send_ledger.c]:
    raise TypeError("LedgerRow's fields must be send_ledger's columns, in table order")


def ledger_row_of_columns(values: Sequence[object]) -> LedgerRow:
    """A row of every send_ledger column, in table order, as a LedgerRow."""
    return LedgerRow(*values)  # type: ignore[arg-type]


def is_open() -> ColumnElement[bool]:
    """Not completed: the predicate of `ix_send_ledger_open` (db/tables.py), the index a read of open
    rows by status goes through (no index covers `status`, so that its moves stay heap-only)."""
    return send_ledger.c.completed_at.is_(None)


def unowned() -> ColumnElement[bool]:
    """Free to take: released, or its lease ran out (or it has none). An ambiguous row has no owner
    but keeps a lease until it may be looked up (`look_up_after` in ledger.mark_ambiguous)."""
    return or_(
        send_ledger.c.status == RELEASED,
        send_ledger.c.lease_expires_at.is_(None),
        send_ledger.c.lease_expires_at <= func.now(),  # `<=`: a wait of 0 frees it at once
    )


def take_over(statement: Insert, token: str | ColumnElement[str], expires: ColumnElement[datetime]) -> Insert:
    """The claim of a new key, or the take-over of an open row whose attempt is gone (one rule for
    `ledger.acquire` and `ledger_many.acquire_many`): this attempt owns it, counted in `attempts`; a
    released row is claimed again, any other keeps its status for the new owner to resume from."""
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
        where=and_(send_ledger.c.status.in_(OPEN), unowned()),
    )


def locked_in_key_order(condition: ColumnElement[bool], *, skip_locked: bool = False) -> ColumnElement[bool]:
    """The rows of `condition`, locked first in idempotency_key order (FOR UPDATE above the sort).

    The one lock-order rule of the ledger: every statement that locks many rows of send_ledger goes
    through it (or joins `key_ordered_lock`), so two of them touching overlapping keys wait for each
    other in the same order instead of deadlocking; the UPDATE then locks only rows this statement
    already holds. `skip_locked`: leave out the rows another transaction holds instead of waiting for
    them (the lease keeper's renewal, which must never wait: ledger_many.renew_many says why that is
    safe)."""
    locked = key_ordered_lock(condition, skip_locked=skip_locked)
    return send_ledger.c.idempotency_key.in_(select(locked.c.idempotency_key))


def key_ordered_lock(condition: ColumnElement[bool], *, skip_locked: bool = False) -> CTE:
    """The keys of the rows of `condition`, locked in idempotency_key order: a CTE that an UPDATE joins
    by key. Locking re-checks `condition` on each row's newest version, and no other transaction can
    move a row this one holds, so the UPDATE need not test `condition` again (ledger_many.py: a join
    on the keys costs Postgres a fraction of testing every key against the array again)."""
    return (
        select(send_ledger.c.idempotency_key)
        .where(condition)
        .order_by(send_ledger.c.idempotency_key)
        .with_for_update(skip_locked=skip_locked)
        .cte("locked")
    )
