"""What an OpenADR event, as openleadr's client hands it to the VEN, means for the event log.

Pure: `read_event` turns the event dict into a `Window` (a scheduled or modified event), a
`Cancellation`, a `NormalOperation` (level 0) or a `Refusal`; `decide` compares it with what the log
already holds and names the one dr.* event to append, if any. The log names a VTN's event
`dr_event_id_of(vtn_id, event_id)`. The VEN (ven.py) does the I/O around them.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from gridjourney.events.fields import clean_text_problem
from gridjourney.events.models import NewEvent
from gridjourney.events.types import (
    MAX_DR_EVENT_DURATION,
    MAX_DR_EVENT_LEAD,
    DrEventCancelled,
    DrEventModified,
    DrEventScheduled,
    Payload,
)

# The only signal this VEN understands: OpenADR's SIMPLE signal, a level from 0 (normal) to 3.
SIMPLE_SIGNAL_NAMES = frozenset({"SIMPLE", "simple"})
SIMPLE_SIGNAL_TYPE = "level"
EVENT_SOURCE = "openadr"
# Event ids of the appended events are uuid5 names under this namespace (fixed: redeliveries must
# derive the same ids, across processes and restarts).
EVENT_ID_NAMESPACE = uuid.UUID("5b0f3c1e-8f0a-4c53-9d0e-0ad7e0c1a2b8")
# The longest dr_event_id the dr.* event types take (events/fields.py Label).
MAX_DR_EVENT_ID = 100

OptType = Literal["optIn", "optOut"]


@dataclass(frozen=True)
class Window:
    """A live event's active period and level, as of its modification number."""

    dr_event_id: str
    program: str
    start: datetime
    end: datetime
    signal_level: float
    modification_number: int


@dataclass(frozen=True)
class Cancellation:
    dr_event_id: str
    modification_number: int


@dataclass(frozen=True)
class NormalOperation:
    """An event whose SIMPLE level is 0 (normal operation) throughout: it asks nothing of anyone."""

    dr_event_id: str
    modification_number: int


@dataclass(frozen=True)
class Refusal:
    """An event this VEN will not act on: it answers optOut and appends nothing."""

    dr_event_id: str
    modification_number: int
    reason: str


Reading = Window | Cancellation | NormalOperation | Refusal


@dataclass(frozen=True)
class Recorded:
    """What the log already says about one DR event: the highest modification number of its
    dr.event_scheduled / dr.event_modified events, and whether it was cancelled."""

    modification_number: int
    cancelled: bool


def dr_event_id_of(vtn_id: str, event_id: str) -> str:
    """The dr_event_id the log knows a VTN's event by: `{vtn_id}:{event_id}`, so that two VTNs using
    one event id make two DR events. When that is longer than the event types take, `oadr:` and 32 hex
    digits of its digest instead: stable, so the event's modifications and cancellation find it."""
    plain = f"{vtn_id}:{event_id}"
    if len(plain) <= MAX_DR_EVENT_ID:
        return plain
    return "oadr:" + hashlib.sha256(f"{vtn_id}\x1f{event_id}".encode()).hexdigest()[:32]


def program_of(market_context: str) -> str:
    """The program a market context URI names: its last path segment (URL-decoded), else its host,
    e.g. http://utility.example/programs/Peak%20Time%20Rewards -> "Peak Time Rewards"."""
    parts = urlsplit(market_context)
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if segments:
        return segments[-1]
    return unquote(parts.netloc) or market_context


def read_event(event: Mapping[str, Any], *, now: datetime) -> Reading:
    """Read one event of an oadrDistributeEvent, as openleadr parses it (its `event_descriptor`,
    `active_period` and `event_signals`)."""
    descriptor = event.get("event_descriptor") or {}
    dr_event_id = str(descriptor.get("event_id") or "")
    modification_number = descriptor.get("modification_number")
    if (
        isinstance(modification_number, bool)
        or not isinstance(modification_number, int)
        or modification_number < 0
    ):
        return Refusal(_printable(dr_event_id), 0, f"bad modification number {modification_number!r}")
    if not dr_event_id:
        return Refusal(dr_event_id, modification_number, "the event has no event id")
    if (problem := clean_text_problem(dr_event_id)) is not None:
        return Refusal(_printable(dr_event_id), modification_number, f"the event id {problem}")
    if descriptor.get("event_status") == "cancelled":
        return Cancellation(dr_event_id, modification_number)

    signal = _simple_signal(event.get("event_signals"))
    if isinstance(signal, str):
        return Refusal(dr_event_id, modification_number, signal)
    if (problem := _level_problem(signal)) is not None:
        return Refusal(dr_event_id, modification_number, problem)
    period = event.get("active_period") or {}
    start, duration = period.get("dtstart"), period.get("duration")
    if not isinstance(start, datetime) or start.tzinfo is None:
        return Refusal(dr_event_id, modification_number, "the active period has no start time")
    if not isinstance(duration, timedelta) or duration == timedelta(0):
        # OpenADR reads a zero duration as "until further notice": a DR event here needs an end.
        return Refusal(dr_event_id, modification_number, "the active period has no duration")
    if duration < timedelta(0):
        return Refusal(dr_event_id, modification_number, "the active period ends before it starts")
    try:
        end = start + duration
    except OverflowError:
        return Refusal(dr_event_id, modification_number, "the active period ends past the last date there is")
    if end <= now:
        return Refusal(dr_event_id, modification_number, "the event has ended already")
    # the API door's bounds (events/types.py DrEventWindow)
    if duration > MAX_DR_EVENT_DURATION:
        why = f"the active period lasts more than {MAX_DR_EVENT_DURATION.days} days"
        return Refusal(dr_event_id, modification_number, why)
    if start > now + MAX_DR_EVENT_LEAD:
        why = f"the event starts more than {MAX_DR_EVENT_LEAD.days} days ahead"
        return Refusal(dr_event_id, modification_number, why)
    level = _level_at(signal, max(start, now))
    if level is None:
        return Refusal(dr_event_id, modification_number, "the SIMPLE signal has no level for the period")
    if _peak_level(signal, now) == 0:
        return NormalOperation(dr_event_id, modification_number)
    return Window(
        dr_event_id=dr_event_id,
        program=program_of(str(descriptor.get("market_context") or "")),
        start=start,
        end=end,
        signal_level=level,
        modification_number=modification_number,
    )


def _simple_signal(signals: Any) -> Mapping[str, Any] | str:
    """The event's SIMPLE level signal, or why the event's signals are not understood."""
    if isinstance(signals, Mapping):  # openleadr nests them one level deeper in some messages
        signals = signals.get("event_signals")
    if not isinstance(signals, Sequence) or not signals:
        return "the event has no signal"
    for signal in signals:
        if not isinstance(signal, Mapping):
            return "a malformed signal"
        name, kind = signal.get("signal_name"), signal.get("signal_type")
        if name not in SIMPLE_SIGNAL_NAMES:
            return f"unknown signal name {name!r} (this VEN understands SIMPLE only)"
        if kind != SIMPLE_SIGNAL_TYPE:
            return f"unknown signal type {kind!r} for the SIMPLE signal (expected {SIMPLE_SIGNAL_TYPE!r})"
    first: Mapping[str, Any] = signals[0]
    return first


def _printable(event_id: str) -> str:
    """The event id with what text cannot hold (NUL, lone surrogates) escaped: what a refusal is logged
    and remembered under (ven.py Handled)."""
    return event_id.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _level_problem(signal: Mapping[str, Any]) -> str | None:
    """Why a level the signal carries (an interval's payload, the current value) cannot be acted on."""
    intervals = signal.get("intervals") or []
    levels = [interval.get("signal_payload") for interval in intervals if isinstance(interval, Mapping)]
    for level in [*levels, signal.get("current_value")]:
        if isinstance(level, bool):
            return f"a SIMPLE level {level!r} is not a number"
        if not isinstance(level, int | float):
            continue  # not a level: the intervals that have one say what the event asks for
        try:
            finite = math.isfinite(float(level))
        except OverflowError:
            finite = False
        if not finite:
            return "a SIMPLE level is not a finite number"
    return None


def _level_at(signal: Mapping[str, Any], when: datetime) -> float | None:
    """The signal's level in force at `when`: the payload of the interval covering it, else of the
    first interval; the signal's current value when it has no intervals. (A VTN sends currentValue 0
    until the event starts, so the intervals say what the event will ask for.)"""
    intervals = [
        interval
        for interval in signal.get("intervals") or []
        if isinstance(interval, Mapping) and isinstance(interval.get("signal_payload"), int | float)
    ]
    if intervals:
        covering = [
            interval
            for interval in intervals
            if isinstance(interval.get("dtstart"), datetime)
            and isinstance(interval.get("duration"), timedelta)
            and interval["dtstart"] <= when < interval["dtstart"] + interval["duration"]
        ]
        return float((covering or intervals)[0]["signal_payload"])
    current = signal.get("current_value")
    return float(current) if isinstance(current, int | float) else None


def _peak_level(signal: Mapping[str, Any], now: datetime) -> float:
    """The highest level the signal asks for from `now` on: over its intervals not yet ended (an
    interval without a time counts), else its current value."""
    levels = [
        float(interval["signal_payload"])
        for interval in signal.get("intervals") or []
        if isinstance(interval, Mapping)
        and isinstance(interval.get("signal_payload"), int | float)
        and not (
            isinstance(interval.get("dtstart"), datetime)
            and isinstance(interval.get("duration"), timedelta)
            and interval["dtstart"] + interval["duration"] <= now
        )
    ]
    current = signal.get("current_value")
    return max(levels) if levels else float(current) if isinstance(current, int | float) else 0.0


def event_id_for(vtn_id: str, dr_event_id: str, modification_number: int, kind: str) -> uuid.UUID:
    """The id of the event appended for (VTN, event, modification, kind): a redelivery derives the same
    id, so the store appends it once."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{vtn_id}\x1f{dr_event_id}\x1f{modification_number}\x1f{kind}")


@dataclass(frozen=True)
class Decision:
    """What to do with one reading: the event to append (None: nothing new) and the answer to the VTN."""

    event: NewEvent | None
    opt: OptType
    outcome: Literal["scheduled", "modified", "cancelled", "duplicate", "normal", "refused"]
    reason: str | None = None


def decide(reading: Reading, recorded: Recorded | None, *, vtn_id: str, now: datetime) -> Decision:
    """The dr.* event a reading adds to what the log holds about the event (`recorded`, None: nothing
    yet); it names the event by `dr_event_id_of(vtn_id, ...)`.

    Level 0 is normal operation (OpenADR 2.0b SIMPLE signal): nothing to tell customers, so a new
    event at level 0 appends nothing (a later modification raising the level is then scheduled as
    new), and an event the log holds brought down to level 0 is cancelled for customers. Either is
    answered optIn: the VEN takes part in normal operation."""
    if isinstance(reading, Refusal):
        return Decision(None, "optOut", "refused", reading.reason)
    if isinstance(reading, NormalOperation):
        if recorded is None or recorded.cancelled:
            return Decision(None, "optIn", "normal")
        if reading.modification_number <= recorded.modification_number:
            return Decision(None, "optIn", "duplicate")
    if isinstance(reading, Cancellation | NormalOperation):
        if recorded is not None and recorded.cancelled:
            return Decision(None, "optIn", "duplicate")
        why = "cancelled by the VTN" if isinstance(reading, Cancellation) else "level 0 (normal operation)"
        payload = {"dr_event_id": dr_event_id_of(vtn_id, reading.dr_event_id), "reason": why}
        return _decision("dr.event_cancelled", payload, reading, vtn_id, now, "cancelled")
    if recorded is not None and recorded.cancelled:
        return Decision(None, "optOut", "refused", "the event was cancelled earlier")
    if recorded is not None and reading.modification_number <= recorded.modification_number:
        return Decision(None, "optIn", "duplicate")
    window = {
        "dr_event_id": dr_event_id_of(vtn_id, reading.dr_event_id),
        "start": reading.start.isoformat(),
        "end": reading.end.isoformat(),
        "signal_level": reading.signal_level,
        "modification_number": reading.modification_number,
    }
    if recorded is None:
        return _decision(
            "dr.event_scheduled", {**window, "program": reading.program}, reading, vtn_id, now, "scheduled"
        )
    return _decision("dr.event_modified", window, reading, vtn_id, now, "modified")


_MODELS: dict[str, type[Payload]] = {
    "dr.event_scheduled": DrEventScheduled,
    "dr.event_modified": DrEventModified,
    "dr.event_cancelled": DrEventCancelled,
}


def _decision(
    event_type: str,
    payload: dict[str, Any],
    reading: Window | Cancellation | NormalOperation,
    vtn_id: str,
    now: datetime,
    outcome: Literal["scheduled", "modified", "cancelled"],
) -> Decision:
    try:
        # The VTN's values must fit the event types (an event id too long, a level out of range, ...).
        _MODELS[event_type].model_validate(payload)
        event = NewEvent(
            event_id=event_id_for(vtn_id, reading.dr_event_id, reading.modification_number, outcome),
            type=event_type,
            occurred_at=now,
            source=EVENT_SOURCE,
            payload=payload,
        )
    except ValidationError as error:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in error.errors())
        return Decision(None, "optOut", "refused", reason)
    return Decision(event, "optIn", outcome)
