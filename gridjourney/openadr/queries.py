"""What the event log already holds about a DR event, read by the VEN before it appends."""

from __future__ import annotations

from sqlalchemy import Integer, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events
from gridjourney.openadr.mapping import Recorded

_WINDOW_TYPES = ("dr.event_scheduled", "dr.event_modified")


async def recorded_dr_event(conn: AsyncConnection, dr_event_id: str) -> Recorded | None:
    """The highest modification number of the event's dr.event_scheduled / dr.event_modified events and
    whether a dr.event_cancelled names it; None when the log has none of them. Read from the log, not
    the dr_events projection: a projection that lags would let a redelivery through.
    (ix_events_type_position keeps this to the DR events.)"""
    modification = events.c.payload["modification_number"].astext.cast(Integer)
    query = select(
        func.max(modification).filter(events.c.type.in_(_WINDOW_TYPES)),
        func.count().filter(events.c.type.in_(_WINDOW_TYPES)),
        func.count().filter(events.c.type == "dr.event_cancelled"),
    ).where(
        events.c.type.in_((*_WINDOW_TYPES, "dr.event_cancelled")),
        events.c.payload["dr_event_id"].astext == dr_event_id,
    )
    highest, windows, cancellations = (await conn.execute(query)).one()
    if not windows and not cancellations:
        return None
    return Recorded(modification_number=int(highest or 0), cancelled=bool(cancellations))
