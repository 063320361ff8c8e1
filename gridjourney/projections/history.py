"""A customer's history as the date and history functions read it (dsl/functions.py): the newest
event of a type, within a window, for which a condition holds (from the log), and the journeys they
are in (from the journey_instances projection). Bounded: a window of at most MAX_WINDOW, at most
HISTORY_ROWS events read per had()."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events, journey_instances
from gridjourney.dsl.expressions import condition
from gridjourney.dsl.functions import HISTORY_ROWS, MAX_WINDOW, history_key
from gridjourney.projections.consents import PROJECTION_EVENT_TYPE as CONSENT_EVENT_TYPE
from gridjourney.projections.consents import consent_history, overruled_on_arrival
from gridjourney.workflows.contracts import HistoryQuery


async def last_seen(
    conn: AsyncConnection,
    customer_id: str,
    queries: Sequence[HistoryQuery],
    as_of: datetime,
    exclude_event_id: str | None,
) -> dict[str, datetime]:
    """had()'s facts: for each query, the time of the newest event of its type, at most its window
    before `as_of` (and not after it), for which its `where` holds; absent when there is none among
    the newest HISTORY_ROWS. A `where` that cannot be evaluated for an event is false for it.

    A consent change that did not apply on arrival (projections/consents.py) is not had: it changed
    no consent and the router routed it nowhere."""
    found: dict[str, datetime] = {}
    not_applied: set[int] | None = None  # the customer's, read once if a query asks for consents
    for query in queries:
        since = as_of - min(query.within, MAX_WINDOW)
        limit = HISTORY_ROWS if query.where is not None else 1  # without a condition the newest is it
        skipped: set[int] = set()
        if query.event_type == CONSENT_EVENT_TYPE:
            if not_applied is None:
                not_applied = set(overruled_on_arrival(await consent_history(conn, customer_id)))
            skipped = not_applied
        rows = await recent_events(
            conn,
            customer_id,
            query.event_type,
            since,
            as_of,
            limit,
            _uuid_or_none(exclude_event_id),
            skipped,
        )
        holds = None if query.where is None else condition(query.where)
        for occurred_at, payload in rows:
            past = {**payload, "type": query.event_type, "occurred_at": occurred_at.isoformat()}
            if holds is None or holds({"event": past}):
                found[history_key(query.event_type, query.where)] = occurred_at
                break
    return found


async def recent_events(
    conn: AsyncConnection,
    customer_id: str,
    event_type: str,
    since: datetime,
    until: datetime,
    limit: int,
    exclude_event_id: str | None,
    exclude_positions: Collection[int] = (),
) -> list[tuple[datetime, dict[str, Any]]]:
    """(occurred_at, payload) of the customer's events of `event_type` in [since, until], newest
    first, at most `limit` (ix_events_customer_position narrows them to the customer's), but those
    at `exclude_positions`."""
    query = (
        select(events.c.occurred_at, events.c.payload)
        .where(
            events.c.customer_id == customer_id,
            events.c.type == event_type,
            events.c.occurred_at >= since,
            events.c.occurred_at <= until,
        )
        .order_by(events.c.occurred_at.desc(), events.c.position.desc())
        .limit(limit)
    )
    if exclude_event_id is not None:
        query = query.where(events.c.event_id != uuid.UUID(exclude_event_id))
    if exclude_positions:
        query = query.where(events.c.position.not_in(sorted(exclude_positions)))
    return [(row.occurred_at, dict(row.payload)) for row in await conn.execute(query)]


async def active_journeys(conn: AsyncConnection, customer_id: str, journey_ids: Sequence[str]) -> set[str]:
    """Those of `journey_ids` the customer has an active run of."""
    query = select(journey_instances.c.journey_id).where(
        journey_instances.c.customer_id == customer_id,
        journey_instances.c.journey_id.in_(list(journey_ids)),
        journey_instances.c.status == "active",
    )
    return {str(row.journey_id) for row in await conn.execute(query)}


def _uuid_or_none(event_id: str | None) -> str | None:
    """Only an event id the log could hold (a uuid) is excluded; another never matches anyway."""
    if event_id is None:
        return None
    try:
        uuid.UUID(event_id)
    except ValueError:
        return None
    return event_id
