"""A DR cohort's "moved" and "cancelled" notices go to the members who were told of the event. A
member whose first notice was suppressed (here by an active outage at their premise) gets the full
notice with the new times instead of a "moved" one, and no cancellation of an event they never heard
of. CohortWorkflow with the real send path (eligibility, ledger, render, the Twilio stand-in), real
Postgres, the time-skipping server (workflows/cohort_updates.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.activities import JourneyActivities
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from tests.activities.conftest import activities, senders, settings, standin, templates_dir  # noqa: F401
from tests.cohorts.support import (
    GridCustomer,
    add_customers,
    cohort_workers,
    start_cohort,
    subject_event,
    until_waiting,
)

DR_EVENT = """
id: moved_notice
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {program: event.program}
  updates: [dr.event_modified]
  on_update:
    - event: dr.event_modified
      send: {channels: [sms], template: dr_moved}
      at_steps: [before_start]
      changed: [start, end]
    - event: dr.event_cancelled
      send: {channels: [sms], template: dr_cancelled}
      at_steps: [before_start]
exit_on: [dr.event_cancelled]
steps:
  - id: notice
    send: {channels: [sms], template: dr_notice}
  - id: before_start
    wait: {until: event.start, before: 1h}
  - id: reminder
    send: {channels: [sms], template: dr_reminder}
"""
TEMPLATES = {
    "dr_notice": "NOTICE: energy-saving event at {{ event.start }}.",
    "dr_moved": "MOVED: your energy-saving event is now at {{ event.start }}.",
    "dr_cancelled": "CANCELLED: your energy-saving event is off.",
    "dr_reminder": "REMINDER: your energy-saving event starts in an hour.",
}


def _grid_event(event_type: str, customer_id: str | None, **payload: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="test",
        payload=payload,
    )


async def _append(engine: AsyncEngine, *events: NewEvent) -> None:
    await EventStore(engine).append(list(events))
    await ProjectionRunner(engine).catch_up()


async def _dr_customers(engine: AsyncEngine, count: int) -> list[GridCustomer]:
    """`count` members of the program, with consent to informational texts."""
    made = await add_customers(engine, count, program="ptr")
    consents = [
        _grid_event(
            "consent.changed",
            c.customer_id,
            channel="sms",
            purpose="informational",
            granted=True,
            method="web",
        )
        for c in made
    ]
    await _append(engine, *consents)
    return made


async def _until_received(twilio: TwilioStandIn, count: int) -> None:
    for _ in range(300):
        if len(twilio.received) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(twilio.received)} messages received, not {count}")


def _texts_by_phone(twilio: TwilioStandIn) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for message in twilio.received:
        texts.setdefault(message.to, []).append(message.body.split(":")[0])
    return texts


async def test_a_member_never_told_of_the_event_gets_the_full_notice_not_the_move_nor_the_cancel(
    engine: AsyncEngine,
    time_skipping_env: WorkflowEnvironment,
    activities: JourneyActivities,  # noqa: F811
    standin: TwilioStandIn,  # noqa: F811
    templates_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    for name, text in TEMPLATES.items():
        (templates_dir / "sms" / "en" / f"{name}.j2").write_text(text)
    env = time_skipping_env
    told, back, still_out = (c for c in await _dr_customers(engine, 3))
    # Power is out at two premises when the event is announced: their notices are suppressed.
    await _append(
        engine,
        _grid_event("outage.detected", None, incident_id="o-back", premise_ids=[back.premise_id]),
        _grid_event("outage.detected", None, incident_id="o-out", premise_ids=[still_out.premise_id]),
    )
    start = await env.get_current_time() + timedelta(days=1)
    trigger = subject_event(
        "dr.event_scheduled",
        dr_event_id="dr-moved",
        program="ptr",
        start=start.isoformat(),
        end=(start + timedelta(hours=2)).isoformat(),
    )
    phone = {c.customer_id: f"+1503555{i:04d}" for i, c in enumerate((told, back, still_out))}
    async with cohort_workers(env.client, engine, activities.send_activities, tmp_path):
        handle = await start_cohort(env.client, DR_EVENT, "dr-moved", trigger)
        await until_waiting(handle, {"before_start": 3})
        assert _texts_by_phone(standin) == {phone[told.customer_id]: ["NOTICE"]}

        # One outage is over when the event moves: that member is sent the full notice, the new time in it.
        await _append(
            engine,
            _grid_event(
                "outage.restored", None, incident_id="o-back", restored_at=datetime.now(UTC).isoformat()
            ),
        )
        moved = start + timedelta(hours=4)
        modified = subject_event(
            "dr.event_modified",
            dr_event_id="dr-moved",
            modification_number=1,
            start=moved.isoformat(),
            end=(moved + timedelta(hours=2)).isoformat(),
        )
        await handle.signal(JOURNEY_EVENT_SIGNAL, modified)
        await _until_received(standin, 3)
        await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("dr.event_cancelled", dr_event_id="dr-moved"))
        final = await handle.result()

    assert (final.status, final.exit_reason) == ("exited", "dr.event_cancelled")
    # told: the notice, the move, the cancellation; back: the notice (with the new time) once, then the
    # cancellation; still out: nothing (the full notice was suppressed again, the cancellation skipped)
    assert _texts_by_phone(standin) == {
        phone[told.customer_id]: ["NOTICE", "MOVED", "CANCELLED"],
        phone[back.customer_id]: ["NOTICE", "CANCELLED"],
    }
    notices = [m.body for m in standin.received if m.to == phone[back.customer_id]]
    assert moved.isoformat() in notices[0]
