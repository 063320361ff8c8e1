"""The SQL of the customer context's history facts (activities/context.py): a customer's recent events
of one type, from the log, and the journeys they are in, from the journey_instances projection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events, journey_instances


async def recent_events(
    conn: AsyncConnection,
    customer_id: str,
    event_type: str,
    since: datetime,
    until: datetime,
    limit: int,
    exclude_event_id: str | None,
) -> list[tuple[datetime, dict[str, Any]]]:
    """(occurred_at, payload) of the customer's events of `event_type` in [since, until], newest
    first, at most `limit` (ix_events_customer_position narrows them to the customer's)."""
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
    return [(row.occurred_at, dict(row.payload)) for row in await conn.execute(query)]


async def active_journeys(conn: AsyncConnection, customer_id: str, journey_ids: Sequence[str]) -> set[str]:
    """Those of `journey_ids` the customer has an active run of."""
    query = select(journey_instances.c.journey_id).where(
        journey_instances.c.customer_id == customer_id,
        journey_instances.c.journey_id.in_(list(journey_ids)),
        journey_instances.c.status == "active",
    )
    return {str(row.journey_id) for row in await conn.execute(query)}
