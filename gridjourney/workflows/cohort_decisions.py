"""CohortWorkflow's pure decisions: the subject after an update, whether an `on_update` notice is
due, where a wait ends, which wait_for events count, and the batches of a track. Deterministic and
free of I/O, like workflows/decisions.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridjourney.dsl.schema import UpdateNotice, WaitSpec
from gridjourney.incidents.etr import etr_notice_due
from gridjourney.workflows.cohort_contracts import MemberBatch
from gridjourney.workflows.decisions import holds, wait_deadline


def supersedes(current: int | None, incoming: int | None) -> bool:
    """Whether a modification numbered `incoming` replaces the one numbered `current` (None: the
    event names no number). Numbers only go up: a redelivery or an older modification arriving late
    (equal or lower) changes nothing; an update without a number always applies."""
    return incoming is None or current is None or incoming > current


def newer_update(subject: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether an `updates` event's payload is newer than the subject (see supersedes)."""
    return supersedes(
        _number(subject.get("modification_number")), _number(payload.get("modification_number"))
    )


def _number(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def updated_subject(subject: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The run's `event` after an `updates` event: its fields replace the subject's (nulls do not)."""
    return {**subject, **{key: value for key, value in payload.items() if value is not None}}


GRID_LISTS = ("premise_ids", "transformer_ids", "feeder_ids")


def batch_subject(subject: dict[str, Any]) -> dict[str, Any]:
    """The subject as batch activities get it: without an outage's premise, transformer and feeder
    lists (one may name 10,000 premises; messages never need them, and each batch's input is history)."""
    return {key: value for key, value in subject.items() if key not in GRID_LISTS}


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def update_notice_due(
    notice: UpdateNotice, last_value: Any, last_at: datetime | None, new_value: Any, now: datetime
) -> bool:
    """Whether an `on_update` notice is due, given the value of its `moved_by` field last notified
    (the first time: the one the run's first notice showed) and when. With `moved_by` the rule is
    incidents/etr.py etr_notice_due (one copy of it); without, `at_most_every` alone."""
    if notice.moved_by is not None:
        return etr_notice_due(
            _timestamp(last_value),
            last_at,
            _timestamp(new_value),
            now,
            notice.moved_by.more_than,
            notice.at_most_every,
        )
    return notice.at_most_every is None or last_at is None or now - last_at >= notice.at_most_every


def cohort_wait_end(
    spec: WaitSpec, started: datetime, subject: dict[str, Any], journey: dict[str, Any]
) -> datetime:
    """When a cohort's wait ends, from the moment it started and the subject as it now is (an update
    moving `event.start` moves the end). Raises ExpressionError when `until` gives no time."""
    return wait_deadline(spec, started, {"event": subject, "customer": {}, "journey": journey})


def wait_for_accepts(
    when: str | None, event: dict[str, Any], subject: dict[str, Any], journey: dict[str, Any]
) -> bool:
    """A wait_for's `when` over the awaited event (`event`) and the run's subject (`trigger`)."""
    return holds(when, {"event": event, "trigger": subject, "customer": {}, "journey": journey})


def batches(run_id: str, step_id: str, track: str, span: tuple[int, int], size: int) -> list[MemberBatch]:
    """The member_no ranges of a track's span, `size` at a time."""
    lo, hi = span
    return [
        MemberBatch(run_id=run_id, step_id=step_id, track=track, lo=start, hi=min(start + size, hi))
        for start in range(lo, hi, size)
    ]


def fields_changed(told: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether any field differs from what members were told (an `on_update` notice's `changed`):
    times compare as instants, so the same time written another way is no change."""
    for name, value in now.items():
        before = told.get(name)
        then, later = _timestamp(before), _timestamp(value)
        if (then != later) if then is not None and later is not None else (before != value):
            return True
    return False
