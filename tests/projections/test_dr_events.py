"""DR events: scheduled, then modified only by a higher modification number, then cancelled for good."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.projections.dr_events import DrEventView, get_dr_event, list_dr_events
from tests.events.builders import new_event
from tests.projections.helpers import project

START = datetime(2026, 7, 2, 17, 0, tzinfo=UTC)
END = datetime(2026, 7, 2, 19, 0, tzinfo=UTC)


def dr(event_type: str, minute: int, **payload: Any) -> NewEvent:
    return new_event(event_type, None, {"dr_event_id": "dr-1", **payload}, minute=minute)


def window(start_hour: int, end_hour: int) -> dict[str, str]:
    return {
        "start": START.replace(hour=start_hour).isoformat(),
        "end": START.replace(hour=end_hour).isoformat(),
    }


async def read(engine: AsyncEngine, dr_event_id: str = "dr-1") -> DrEventView | None:
    async with engine.connect() as conn:
        return await get_dr_event(conn, dr_event_id)


async def test_a_scheduled_event_is_recorded(engine: AsyncEngine) -> None:
    await project(
        engine,
        dr("dr.event_scheduled", 0, program="ptr", signal_level=2, target_kw=500, **window(17, 19)),
    )

    assert await read(engine) == DrEventView(
        dr_event_id="dr-1",
        program="ptr",
        start_at=START,
        end_at=END,
        signal_level=2.0,
        target_kw=500.0,
        modification_number=0,
        status="scheduled",
    )
    assert await read(engine, "dr-unknown") is None


async def test_modifications_apply_in_modification_number_order_and_a_late_older_one_changes_nothing(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        dr("dr.event_scheduled", 0, program="ptr", signal_level=1, target_kw=500, **window(17, 19)),
        dr("dr.event_modified", 1, modification_number=2, target_kw=800, **window(18, 20)),
        dr("dr.event_modified", 2, modification_number=1, signal_level=3, **window(15, 16)),  # late
        dr("dr.event_modified", 3, modification_number=2, **window(12, 13)),  # redelivered number
        dr("dr.event_scheduled", 4, program="ptr", **window(10, 11)),  # the first delivery again
    )

    event = await read(engine)
    assert event is not None
    assert (event.start_at, event.end_at) == (START.replace(hour=18), START.replace(hour=20))
    assert (event.signal_level, event.target_kw) == (1.0, 800.0)  # the level left out is kept
    assert (event.modification_number, event.status) == (2, "scheduled")


async def test_a_cancellation_is_final(engine: AsyncEngine) -> None:
    await project(
        engine,
        dr("dr.event_scheduled", 0, program="ptr", **window(17, 19)),
        dr("dr.event_cancelled", 1, reason="forecast load dropped"),
        dr("dr.event_modified", 2, modification_number=3, **window(18, 19)),
        dr("dr.event_modified", 3, dr_event_id="dr-9", modification_number=1, **window(18, 19)),  # unknown
    )

    event = await read(engine)
    assert event is not None
    assert (event.status, event.modification_number, event.start_at) == (
        "cancelled",
        3,
        START.replace(hour=18),
    )
    assert await read(engine, "dr-9") is None


async def test_events_are_listed_by_start(engine: AsyncEngine) -> None:
    await project(
        engine,
        dr("dr.event_scheduled", 0, program="ptr", **window(17, 19)),
        dr("dr.event_scheduled", 1, dr_event_id="dr-0", program="ev", **window(13, 14)),
    )

    async with engine.connect() as conn:
        listed = await list_dr_events(conn)
    assert [(event.dr_event_id, event.program) for event in listed] == [("dr-0", "ev"), ("dr-1", "ptr")]


async def test_a_second_scheduling_changes_nothing_whatever_its_modification_number(
    engine: AsyncEngine,
) -> None:
    # The event's cohort run hears only dr.event_modified: a repeated scheduling that moved the period
    # here would make the DR report disagree with the run's notices.
    await project(
        engine,
        dr("dr.event_scheduled", 0, program="ptr", signal_level=1, target_kw=500, **window(17, 19)),
        dr("dr.event_scheduled", 1, program="ev", signal_level=3, modification_number=5, **window(12, 14)),
        dr("dr.event_modified", 2, modification_number=1, **window(18, 20)),
        dr("dr.event_scheduled", 3, program="ev", modification_number=9, **window(9, 10)),
    )

    event = await read(engine)
    assert event is not None
    assert (event.program, event.signal_level, event.target_kw) == ("ptr", 1.0, 500.0)
    assert (event.start_at, event.end_at) == (START.replace(hour=18), START.replace(hour=20))
    assert event.modification_number == 1
