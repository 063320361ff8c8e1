"""CohortWorkflow's pure decisions (workflows/cohort_decisions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridjourney.dsl.expressions import ExpressionError
from gridjourney.dsl.schema import MovedBy, UpdateNotice, WaitSpec
from gridjourney.workflows.cohort_decisions import (
    batches,
    cohort_wait_end,
    newer_update,
    supersedes,
    update_notice_due,
    updated_subject,
    wait_for_accepts,
)

NOON = datetime(2026, 7, 1, 12, tzinfo=UTC)
JOURNEY = {"id": "j", "version": 1}


def test_an_update_replaces_the_fields_it_gives() -> None:
    subject = {"dr_event_id": "e", "start": "a", "end": "b", "target_kw": 5}
    assert updated_subject(subject, {"start": "c", "target_kw": None, "modification_number": 1}) == {
        "dr_event_id": "e",
        "start": "c",
        "end": "b",
        "target_kw": 5,
        "modification_number": 1,
    }


def _notice(moved_by: MovedBy | None, at_most_every: timedelta | None) -> UpdateNotice:
    return UpdateNotice.model_validate(
        {
            "event": "outage.etr_updated",
            "send": {"channels": ["sms"], "template": "outage_etr"},
            "at_steps": ["await_restore"],
            "moved_by": moved_by,
            "at_most_every": at_most_every,
        }
    )


def test_a_time_field_must_move_by_more_than_the_threshold() -> None:
    notice = _notice(MovedBy(field="etr", more_than=timedelta(minutes=30)), None)
    later = NOON + timedelta(hours=2)
    assert not update_notice_due(
        notice, NOON.isoformat(), None, (NOON + timedelta(minutes=30)).isoformat(), later
    )
    assert update_notice_due(
        notice, NOON.isoformat(), None, (NOON - timedelta(minutes=31)).isoformat(), later
    )
    assert update_notice_due(notice, None, None, NOON.isoformat(), later)  # a first estimate is news
    assert not update_notice_due(notice, NOON.isoformat(), None, "soon", later)  # no estimate: no news


def test_notices_at_most_every() -> None:
    rated = _notice(MovedBy(field="etr", more_than=timedelta(minutes=30)), timedelta(hours=1))
    moved = (NOON + timedelta(hours=3)).isoformat()
    assert not update_notice_due(rated, NOON.isoformat(), NOON, moved, NOON + timedelta(minutes=59))
    assert update_notice_due(rated, NOON.isoformat(), NOON, moved, NOON + timedelta(hours=1))
    plain = _notice(None, timedelta(hours=1))
    assert update_notice_due(plain, None, None, None, NOON)
    assert not update_notice_due(plain, None, NOON, None, NOON + timedelta(minutes=59))
    assert update_notice_due(_notice(None, None), None, NOON, None, NOON)


def test_a_wait_until_the_event_follows_the_subject() -> None:
    spec = WaitSpec(until="event.start", before=timedelta(hours=1))
    start = NOON + timedelta(days=1)
    assert cohort_wait_end(spec, NOON, {"start": start.isoformat()}, JOURNEY) == start - timedelta(hours=1)
    later = start + timedelta(hours=3)
    assert cohort_wait_end(spec, NOON, {"start": later.isoformat()}, JOURNEY) == later - timedelta(hours=1)
    # a start already past does not wait; a duration counts from the step's start, not from now
    assert cohort_wait_end(spec, NOON, {"start": NOON.isoformat()}, JOURNEY) == NOON
    assert cohort_wait_end(WaitSpec(duration=timedelta(hours=2)), NOON, {}, JOURNEY) == NOON + timedelta(
        hours=2
    )
    with pytest.raises(ExpressionError):
        cohort_wait_end(spec, NOON, {}, JOURNEY)


def test_a_wait_for_condition_reads_the_event_and_the_run_subject() -> None:
    when = "event.incident_id == trigger.incident_id"
    assert wait_for_accepts(when, {"incident_id": "i"}, {"incident_id": "i"}, JOURNEY)
    assert not wait_for_accepts(when, {"incident_id": "x"}, {"incident_id": "i"}, JOURNEY)
    assert wait_for_accepts(None, {}, {}, JOURNEY)


def test_batches_cover_the_span() -> None:
    parts = batches("r", "s", "t1", (0, 1201), 500)
    assert [(b.lo, b.hi) for b in parts] == [(0, 500), (500, 1000), (1000, 1201)]
    assert batches("r", "s", "t1", (0, 0), 500) == []


def test_a_late_older_modification_does_not_replace_a_newer_one() -> None:
    subject = {"dr_event_id": "e", "modification_number": 2}
    assert newer_update(subject, {"modification_number": 3})
    assert not newer_update(subject, {"modification_number": 2})  # redelivered
    assert not newer_update(subject, {"modification_number": 1})  # older, arriving late
    assert newer_update({"dr_event_id": "e"}, {"modification_number": 1})  # scheduled without a number
    assert newer_update(subject, {"start": "x"})  # an update with no number applies
    assert supersedes(0, 1) and not supersedes(4, 4)
