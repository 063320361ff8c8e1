"""The scoring domain's SQL: which customers the daily scan scores, the days it leaves out, and how
far their reads go."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CUSTOMERS_WITH_READS = text(
    "SELECT DISTINCT customer_id FROM meter_reads WHERE read_at >= :start "
    "AND read_at < :end AND (CAST(:after AS text) IS NULL OR customer_id > :after) "
    "ORDER BY customer_id LIMIT :limit"
)

# Outages and DR events: their days are never scored (a curtailed or dark day is no anomaly).
_EXCLUSION_EVENTS = text(
    "SELECT type, customer_id, occurred_at, payload FROM events WHERE type IN "
    "('dr.event_scheduled', 'dr.event_cancelled', 'outage.detected', 'outage.restored') "
    "AND (customer_id IS NULL OR customer_id = ANY(:ids)) "
    "AND occurred_at >= :start AND occurred_at < :end ORDER BY position"
)

# Each customer's latest read, as a day in their own zone (UTC without one).
_LATEST_READ_DAY = text(
    "SELECT max(CAST(timezone(coalesce(customers.time_zone, 'UTC'), last.read_at) AS date)) "
    "FROM unnest(CAST(:ids AS text[])) AS c(id) "
    "CROSS JOIN LATERAL "
    "(SELECT max(read_at) AS read_at FROM meter_reads WHERE customer_id = c.id) AS last "
    "LEFT JOIN customers ON customers.customer_id = c.id"
)

ExclusionEvent = tuple[str, str | None, datetime, dict[str, Any]]  # type, customer, when, payload


async def customers_with_reads(
    conn: AsyncConnection, *, start: datetime, end: datetime, after: str | None, limit: int
) -> list[str]:
    """Up to `limit` customers in id order, after `after`, with reads in [start, end)."""
    rows = await conn.execute(
        _CUSTOMERS_WITH_READS, {"start": start, "end": end, "after": after, "limit": limit}
    )
    return [str(customer_id) for customer_id in rows.scalars()]


async def exclusion_events(
    conn: AsyncConnection, customer_ids: list[str], *, start: datetime, end: datetime
) -> list[ExclusionEvent]:
    rows = await conn.execute(_EXCLUSION_EVENTS, {"ids": customer_ids, "start": start, "end": end})
    return [(row.type, row.customer_id, row.occurred_at, dict(row.payload)) for row in rows]


async def latest_read_day(conn: AsyncConnection, customer_ids: list[str]) -> date | None:
    latest = await conn.scalar(_LATEST_READ_DAY, {"ids": customer_ids})
    return latest if isinstance(latest, date) else None
