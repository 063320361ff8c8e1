"""Demand-response events as first scheduled, then modified or cancelled (dr.*), and the reads of them.

The first dr.event_scheduled of an event wins: a later one for the same dr_event_id changes nothing,
whatever its modification number, times or program. Only dr.event_modified changes a known event,
because the event's cohort run listens to that alone (gridjourney/router/cohorts.py signals a second
scheduling to the running run, which adds no one); were a repeated scheduling to move the period
here, the DR report would disagree with the run's notices. The events door refuses such a repeat
(gridjourney/api/dr_rescheduling.py); this rule holds where the projection lags that check.

The modification number only goes up: a dr.event_modified whose number is not above the row's (a
redelivery, or an older modification arriving late) changes nothing. A cancellation is final: later
modifications still record the period, never undo the status. A modification of an event never
scheduled has no program to record and is ignored (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import dr_events
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import DrEventCancelled, DrEventModified, DrEventScheduled
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


async def _scheduled(conn: AsyncConnection, event: StoredEvent) -> None:
    scheduled = DrEventScheduled.model_validate(event.payload)
    statement = insert(dr_events).values(
        dr_event_id=scheduled.dr_event_id,
        program=scheduled.program,
        start_at=scheduled.start,
        end_at=scheduled.end,
        signal_level=scheduled.signal_level,
        target_kw=scheduled.target_kw,
        modification_number=scheduled.modification_number,
        status="scheduled",
        last_position=event.position,
    )
    await conn.execute(statement.on_conflict_do_nothing(index_elements=[dr_events.c.dr_event_id]))


async def _modified(conn: AsyncConnection, event: StoredEvent) -> None:
    modified = DrEventModified.model_validate(event.payload)
    result = await conn.execute(
        update(dr_events)
        .where(
            dr_events.c.dr_event_id == modified.dr_event_id,
            dr_events.c.last_position < event.position,
            dr_events.c.modification_number < modified.modification_number,
        )
        .values(
            start_at=modified.start,
            end_at=modified.end,
            # a modification that leaves the level or target out keeps them
            signal_level=func.coalesce(modified.signal_level, dr_events.c.signal_level),
            target_kw=func.coalesce(modified.target_kw, dr_events.c.target_kw),
            modification_number=modified.modification_number,
            last_position=event.position,
        )
    )
    if result.rowcount == 0 and await get_dr_event(conn, modified.dr_event_id) is None:
        log.warning(
            "dr_events: modification at %d of unknown event %r; ignored", event.position, modified.dr_event_id
        )


async def _cancelled(conn: AsyncConnection, event: StoredEvent) -> None:
    cancelled = DrEventCancelled.model_validate(event.payload)
    await conn.execute(
        update(dr_events)
        .where(dr_events.c.dr_event_id == cancelled.dr_event_id, dr_events.c.last_position < event.position)
        .values(status="cancelled", last_position=event.position)
    )


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.type == "dr.event_scheduled":
        await _scheduled(conn, event)
    elif event.type == "dr.event_modified":
        await _modified(conn, event)
    else:
        await _cancelled(conn, event)


PROJECTION = Projection(
    name="dr_events",
    table=dr_events,
    event_types=frozenset({"dr.event_scheduled", "dr.event_modified", "dr.event_cancelled"}),
    apply=apply,
)


# --- reads -------------------------------------------------------------------------------------------
class DrEventView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    dr_event_id: str
    program: str
    start_at: datetime
    end_at: datetime
    signal_level: float | None
    target_kw: float | None
    modification_number: int
    status: str  # scheduled | cancelled


async def get_dr_event(conn: AsyncConnection, dr_event_id: str) -> DrEventView | None:
    query = select(dr_events).where(dr_events.c.dr_event_id == dr_event_id)
    row = (await conn.execute(query)).first()
    return None if row is None else DrEventView.model_validate(row)


async def get_dr_events(conn: AsyncConnection, dr_event_ids: Collection[str]) -> dict[str, DrEventView]:
    """The known events among `dr_event_ids`, by id."""
    query = select(dr_events).where(dr_events.c.dr_event_id.in_(list(dr_event_ids)))
    return {row.dr_event_id: DrEventView.model_validate(row) for row in await conn.execute(query)}


async def list_dr_events(conn: AsyncConnection) -> list[DrEventView]:
    """Every DR event, by start (then id)."""
    query = select(dr_events).order_by(dr_events.c.start_at, dr_events.c.dr_event_id)
    return [DrEventView.model_validate(row) for row in await conn.execute(query)]
