"""All SQL of a backtest: the log's events it replays, the other journeys' messages the send ledger
counts against frequency caps, and which outage incidents duplicate others. Read only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.activities.ledger_rows import RESERVED
from gridjourney.db.tables import events, outages, send_ledger
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore

# Rows read (and their personal fields opened) per round trip: bounded memory over a year of events.
CHUNK = 20_000


async def count_in_range(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    query = (
        select(func.count())
        .select_from(events)
        .where(events.c.occurred_at >= start, events.c.occurred_at < end)
    )
    return int((await conn.execute(query)).scalar_one())


async def replayed_events(
    conn: AsyncConnection,
    store: EventStore,
    state_types: Collection[str],
    routed_types: Collection[str],
    start: datetime,
    end: datetime,
) -> AsyncIterator[StoredEvent]:
    """In (occurred_at, position) order: the customers' state events from the log's beginning until
    `end`, and the events of `routed_types` in [start, end)."""
    wanted = or_(
        events.c.type.in_(list(state_types)),
        events.c.type.in_(list(routed_types)) & (events.c.occurred_at >= start),
    )
    query = (
        select(events)
        .where(events.c.occurred_at < end, wanted)
        .order_by(events.c.occurred_at, events.c.position)
        .execution_options(yield_per=CHUNK)
    )
    result = await conn.stream(query)
    async for rows in result.partitions(CHUNK):
        for event in await store.opened(conn, list(rows)):
            yield event


async def other_journeys_sends(
    conn: AsyncConnection, journey_id: str, since: datetime, end: datetime
) -> list[tuple[str, datetime, str, str]]:
    """(customer, reserved at, purpose, channel) of messages other journeys reserved in [since, end)."""
    query = select(
        send_ledger.c.customer_id, send_ledger.c.reserved_at, send_ledger.c.purpose, send_ledger.c.channel
    ).where(
        send_ledger.c.status.in_(RESERVED),
        send_ledger.c.reserved_at >= since,
        send_ledger.c.reserved_at < end,
        send_ledger.c.journey_id.is_distinct_from(journey_id),
    )
    rows = await conn.execute(query)
    return [
        (row.customer_id, row.reserved_at, row.purpose, row.channel)
        for row in rows
        if row.purpose is not None and row.channel is not None and row.reserved_at is not None
    ]


async def canonical_incidents(conn: AsyncConnection) -> dict[str, str]:
    """incident id → the incident it was found to duplicate (router/cohorts.py keys outage runs by
    it), for the incidents that have one other than themselves."""
    query = select(outages.c.incident_id, outages.c.canonical_incident_id).where(
        outages.c.canonical_incident_id != outages.c.incident_id
    )
    return {row.incident_id: row.canonical_incident_id for row in await conn.execute(query)}
