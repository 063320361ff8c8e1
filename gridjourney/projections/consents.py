"""The consents projection: the consent in force per (customer, channel, purpose).

The change in force is the one that happened last, not the one that arrived last: a CRM that posts a
grant dated before the customer's STOP (a sync catching up, a retried export) must not undo the
STOP. Every change is kept in the log and the timeline; one older than the change in force when it
arrives is not applied, whatever its source (SMS replies, unsubscribe links, CRM events, the API).

"Happened" is `occurred_at`, but never later than `recorded_at`: a sender's clock ahead of ours (the
door lets occurred_at lie up to a day ahead) cannot make a grant outrank a STOP that arrives after it.
Two changes at the same moment keep arrival order (the later position wins). Since the state is the
greatest (in_effect_from, position) per key, folding the log in any order, or again, gives the same
rows: a rebuild equals the live table. A row's `updated_at` is the occurred_at of its change, as sent.

A change that did not apply also moves no journey: the router (router/router.py) does not route it,
and the backtest must not either. `supersedes` is the one rule (the SQL of `apply` states it too),
`overruled_on_arrival` applies it to a customer's log, and `applied_on_arrival` (the router),
`not_applied_in_log` and `not_applied_positions` (a replay) ask it of one change or of a whole log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, ColumnElement, DateTime, func, literal, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import consents, events
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import ConsentChanged
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)

PROJECTION_EVENT_TYPE = "consent.changed"


def in_effect_from(occurred_at: datetime, recorded_at: datetime) -> datetime:
    """The moment that orders a consent change against the others of its channel and purpose."""
    return min(occurred_at, recorded_at)


@dataclass(frozen=True)
class ConsentRecord:
    """One consent.changed as the log holds it."""

    position: int
    channel: str
    purpose: str
    granted: bool
    method: str | None
    effective_at: datetime  # in_effect_from(occurred_at, recorded_at)

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.effective_at, self.position)


Order = tuple[datetime, int]
"""(in_effect_from, position) of a consent change: the greater of two is the one in force."""


def supersedes(change: Order, in_force: Order | None) -> bool:
    """Whether a change arriving when `in_force` is the change in force for its channel and purpose
    (None: there is none yet) replaces it, i.e. applies. The one rule of every fold of consents."""
    return in_force is None or change > in_force


def consent_record(event: StoredEvent) -> ConsentRecord:
    """A consent.changed event as a ConsentRecord."""
    change = ConsentChanged.model_validate(event.payload)
    return ConsentRecord(
        position=event.position,
        channel=change.channel,
        purpose=change.purpose,
        granted=change.granted,
        method=change.method,
        effective_at=in_effect_from(event.occurred_at, event.recorded_at),
    )


def effective_at() -> ColumnElement[datetime]:
    """in_effect_from of a consent.changed row, in SQL."""
    return func.least(events.c.occurred_at, events.c.recorded_at)


async def consent_history(
    conn: AsyncConnection, customer_id: str, channel: str | None = None, *, through: int | None = None
) -> list[ConsentRecord]:
    """Every consent.changed of the customer (of one channel, when given; up to position `through`,
    when given), in log order (the payload holds no sealed field). From the log: this projection
    keeps only the change in force, and undoing a STOP, or telling why a change did not apply, needs
    the others."""
    query = (
        select(events.c.position, events.c.payload, effective_at())
        .where(events.c.customer_id == customer_id, events.c.type == PROJECTION_EVENT_TYPE)
        .order_by(events.c.position)
    )
    if channel is not None:
        query = query.where(events.c.payload["channel"].astext == channel)
    if through is not None:
        query = query.where(events.c.position <= through)
    return [
        _record(position, payload, effective) for position, payload, effective in await conn.execute(query)
    ]


def _record(position: int, payload: dict[str, object], effective: datetime) -> ConsentRecord:
    change = ConsentChanged.model_validate(payload)
    return ConsentRecord(
        position=position,
        channel=change.channel,
        purpose=change.purpose,
        granted=change.granted,
        method=change.method,
        effective_at=effective,
    )


def in_effect_order(history: Sequence[ConsentRecord]) -> list[ConsentRecord]:
    """The changes in the order they take effect: folding them, the last one per key is in force."""
    return sorted(history, key=lambda record: record.order)


def overruled_on_arrival(history: Sequence[ConsentRecord]) -> dict[int, ConsentRecord]:
    """Position of each change that did not apply → the newer change in force when it arrived.

    `history`: one customer's changes in log order. A change that did not apply on arrival never
    applies later: whatever overrules the change in force overrules it too."""
    in_force: dict[tuple[str, str], ConsentRecord] = {}
    overruled: dict[int, ConsentRecord] = {}
    for record in sorted(history, key=lambda record: record.position):
        key = (record.channel, record.purpose)
        current = in_force.get(key)
        if supersedes(record.order, None if current is None else current.order):
            in_force[key] = record
        else:
            assert current is not None  # nothing in force: every change applies
            overruled[record.position] = current
    return overruled


async def applied_on_arrival(conn: AsyncConnection, event: StoredEvent) -> bool:
    """Whether a consent.changed of the log changed the consent in force when it arrived (False: a
    newer change of its channel and purpose was in force; it was logged, not applied). Decided by the
    changes before it in the log alone, so it is the same however often it is asked."""
    if event.customer_id is None:
        return False  # the projection ignores it
    record = consent_record(event)
    history = await consent_history(conn, event.customer_id, record.channel, through=event.position)
    if all(earlier.position != event.position for earlier in history):
        history.append(record)  # asked before it is read back (not committed yet): as it will be
    return event.position not in overruled_on_arrival(history)


async def not_applied_in_log(conn: AsyncConnection) -> set[int]:
    """The positions of every consent change of the log that did not apply on arrival: what a
    backtest, which replays in the order things occurred, must not route (the router did not)."""
    query = (
        select(events.c.customer_id, events.c.position, events.c.payload, effective_at())
        .where(events.c.type == PROJECTION_EVENT_TYPE, events.c.customer_id.is_not(None))
        .order_by(events.c.position)
    )
    by_customer: dict[str, list[ConsentRecord]] = {}
    for customer_id, position, payload, effective in await conn.execute(query):
        by_customer.setdefault(customer_id, []).append(_record(position, payload, effective))
    return {position for history in by_customer.values() for position in overruled_on_arrival(history)}


def not_applied_positions(log: Iterable[StoredEvent]) -> set[int]:
    """The positions of the consent changes in `log` (events in any order, every customer's) that
    did not apply on arrival: what a replay of the log routes to no journey, as the router does not."""
    by_customer: dict[str, list[ConsentRecord]] = {}
    for event in log:
        if event.type == PROJECTION_EVENT_TYPE and event.customer_id is not None:
            by_customer.setdefault(event.customer_id, []).append(consent_record(event))
    return {position for history in by_customer.values() for position in overruled_on_arrival(history)}


def not_applied_words(standing: ConsentRecord) -> str:
    """Why a late change left the consent as it was, for the timeline line of that change, e.g.
    "not applied: older than the revocation already in force (by SMS reply, 2026-12-01 00:50 UTC)"."""
    what = "grant" if standing.granted else "revocation"
    how = _METHOD_WORDS.get(standing.method or "", standing.method or "no method given")
    when = standing.effective_at.astimezone(UTC)
    return f"not applied: older than the {what} already in force ({how}, {when:%Y-%m-%d %H:%M} UTC)"


_METHOD_WORDS = {"sms_reply": "by SMS reply", "unsubscribe_link": "by unsubscribe link"}


async def not_applied_notes(conn: AsyncConnection, customer_id: str) -> dict[int, str]:
    """Position of each of the customer's consent changes that did not apply → why, in words: what
    the timeline adds to that change's line."""
    overruled = overruled_on_arrival(await consent_history(conn, customer_id))
    return {position: not_applied_words(standing) for position, standing in overruled.items()}


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.customer_id is None:
        log.warning("consents: consent.changed at %d names no customer; ignored", event.position)
        return
    change = ConsentChanged.model_validate(event.payload)
    # The WHERE of the upsert below is `supersedes(new, in force)`, in SQL.
    statement = insert(consents).values(
        customer_id=event.customer_id,
        channel=change.channel,
        purpose=change.purpose,
        granted=change.granted,
        source=event.source,
        method=change.method,
        updated_at=event.occurred_at,
        last_position=event.position,
    )
    excluded = statement.excluded
    # The row keeps occurred_at as the sender gave it; the moment in effect of the change in force
    # is read from its event (a primary-key look-up; the row's own time if the event were gone).
    in_force_from = func.coalesce(
        # The row in conflict, named as SQL: SQLAlchemy does not correlate into an INSERT's ON
        # CONFLICT, and would otherwise join a second `consents`.
        select(effective_at())
        .where(events.c.position == literal_column("consents.last_position", BigInteger))
        .scalar_subquery(),
        consents.c.updated_at,
    )
    new_from = literal(in_effect_from(event.occurred_at, event.recorded_at), DateTime(timezone=True))
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[consents.c.customer_id, consents.c.channel, consents.c.purpose],
            set_={
                column: excluded[column]
                for column in ("granted", "source", "method", "updated_at", "last_position")
            },
            # Only a change newer than the one in force replaces it (ties: the later arrival).
            where=tuple_(in_force_from, consents.c.last_position) < tuple_(new_from, excluded.last_position),
        )
    )


PROJECTION = Projection(
    name="consents", table=consents, event_types=frozenset({PROJECTION_EVENT_TYPE}), apply=apply
)
