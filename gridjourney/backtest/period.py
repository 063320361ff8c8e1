"""The period a backtest replays, as the CLI and the API take it: a day (YYYY-MM-DD, in UTC) or an ISO
8601 time with its zone. A day as the end means the end of that day, so `--from 2026-11-01 --to
2026-11-30` is all of November."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from gridjourney.events.fields import EARLIEST, LATEST

# The years an event log can hold (events/fields.py refuses event times outside them).
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year


def parse_bound(text: str, *, end: bool) -> datetime:
    """Raises ValueError with a message for people."""
    moment, whole_day = _parsed(text)
    if not FIRST_YEAR <= moment.year < LAST_YEAR:
        raise ValueError(f"{text!r} is not between the years {FIRST_YEAR} and {LAST_YEAR - 1}")
    return moment + timedelta(days=1) if end and whole_day else moment


def _parsed(text: str) -> tuple[datetime, bool]:
    """The moment, and whether the text named a whole day (its start)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(0), tzinfo=UTC), True
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a day (YYYY-MM-DD) or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add one, e.g. {text}+00:00")
    return moment, False


def parse_period(start: str, end: str) -> tuple[datetime, datetime]:
    """(start, end) of the period; raises ValueError naming `from` or `to`."""
    bounds = []
    for name, text, is_end in (("from", start, False), ("to", end, True)):
        try:
            bounds.append(parse_bound(text, end=is_end))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    if bounds[1] <= bounds[0]:
        raise ValueError(f"to: the period ends ({end}) before it starts ({start})")
    return bounds[0], bounds[1]
