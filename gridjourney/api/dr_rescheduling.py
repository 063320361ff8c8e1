"""The events door's refusal of a dr.event_scheduled that would reschedule a known DR event.

A DR event is changed by dr.event_modified alone: that is what its running cohort run listens to,
and the dr_events projection keeps the first scheduling of an event (gridjourney/projections/
dr_events.py). A second dr.event_scheduled for a known dr_event_id with another program, period,
signal level or target would be recorded and then ignored by both, so the door answers it with 409,
naming `payload.dr_event_id` and pointing at dr.event_modified. It is compared with the event as it
stands (after its modifications), and the refusal says what that is. The same content again is
accepted (it changes nothing), and so is a retry of an event already in the log: the store answers
that one (a duplicate, or an event_id conflict). Two schedulings of one new event in one request are
held to the first of them. Requests racing past this check still agree, by the projection's rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.problems import ApiProblem, FieldError, field_path
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.events.types import DrEventScheduled
from gridjourney.projections.dr_events import DrEventView, get_dr_events

SCHEDULED = "dr.event_scheduled"
MODIFY_HINT = (
    "send dr.event_modified with a higher modification_number to change its period, level or target; "
    "a new program needs a new dr_event_id"
)
CANCELLED_HINT = "a cancellation is final; schedule the new event under a new dr_event_id"
# What a scheduling sets: program, start, end, signal level, target (kW).
_Content = tuple[str, datetime, datetime, float | None, float | None]


def _content(scheduled: DrEventScheduled) -> _Content:
    return (scheduled.program, scheduled.start, scheduled.end, scheduled.signal_level, scheduled.target_kw)


def _recorded(view: DrEventView) -> _Content:
    return (view.program, view.start_at, view.end_at, view.signal_level, view.target_kw)


def _refusal(dr_event_id: str, field: str, settled: _Content, view: DrEventView | None) -> ApiProblem:
    if view is None:
        state, hint = "scheduled earlier in this request", MODIFY_HINT
    elif view.status == "cancelled":
        state, hint = "cancelled", CANCELLED_HINT
    else:
        state, hint = f"scheduled (modification {view.modification_number})", MODIFY_HINT
    program, start, end, level, target = settled
    return ApiProblem(
        409,
        "dr-event-already-scheduled",
        "The DR event is already scheduled",
        f"dr_event_id {dr_event_id!r} is {state}: program {program!r}, {start.isoformat()} to "
        f"{end.isoformat()}, signal level {level}, target {target} kW; a repeated dr.event_scheduled "
        "may not change it",
        [FieldError(field=field, reason="already scheduled with other content", hint=hint)],
    )


async def refuse_rescheduling(
    engine: AsyncEngine, store: EventStore, events: Sequence[NewEvent], is_batch: bool
) -> None:
    """Raise 409 for the first dr.event_scheduled of `events` that would reschedule a known event."""
    scheduled = [
        (index, event, DrEventScheduled.model_validate(event.payload))
        for index, event in enumerate(events)
        if event.type == SCHEDULED
    ]
    if not scheduled:
        return
    async with engine.connect() as conn:
        known = await get_dr_events(conn, {payload.dr_event_id for _, _, payload in scheduled})
    first_in_request: dict[str, _Content] = {}
    for index, event, payload in scheduled:
        view = known.get(payload.dr_event_id)
        content = _content(payload)
        if view is not None:
            settled = _recorded(view)
        else:
            settled = first_in_request.setdefault(payload.dr_event_id, content)
        if content == settled or await store.get(event.event_id) is not None:
            continue
        prefix: list[int | str] = ["events", index] if is_batch else []
        field = field_path([*prefix, "payload", "dr_event_id"])
        raise _refusal(payload.dr_event_id, field, settled, view)
