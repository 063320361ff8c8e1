"""CohortWorkflow's pure decisions: the subject after an update, whether an `on_update` notice is
due, where a wait ends, which wait_for events count, and the batches of a track. Deterministic and
free of I/O, like workflows/decisions.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gridjourney.dsl.schema import MovedBy, WaitSpec
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


def moved_enough(moved_by: MovedBy, before: Any, now: Any) -> bool:
    """Whether a time field moved by more than `moved_by.more_than` (a time not known before, or not
    a time at all, counts as moved: the customer should hear of it)."""
    was, is_ = _timestamp(before), _timestamp(now)
    if was is None or is_ is None:
        return True
    return abs(is_ - was) > moved_by.more_than


def notice_due(last_at: datetime | None, at_most_every: timedelta | None, now: datetime) -> bool:
    return at_most_every is None or last_at is None or now - last_at >= at_most_every


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
