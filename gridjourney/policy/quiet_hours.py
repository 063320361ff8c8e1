"""Quiet hours: whether a moment lies in the sending hours, in a customer's own zone, and if not, the
next moment that does. Pure: no I/O, no clock (the caller passes `now`).

Windows are local wall-clock hours. Across a DST change the local clock skips or repeats an hour, so
the next allowed moment is not always "today at the window's start": a start inside the skipped hour
never happens (the window opens when the clock jumps past it), and a start inside the repeated hour
happens twice. The answer is found among a few candidate instants — each window's start on the days
around `now` (both readings of a repeated hour) and each change of the zone's offset — as the
earliest one that is in a window and not before `now`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gridjourney.policy.model import TimeWindow

# Days searched after `now`: a day always has a window (an empty list of windows is refused), and a
# window can be missed on one day only when it lies wholly inside a skipped hour.
_SEARCH_DAYS = 3
_MINUTE = timedelta(minutes=1)
# Zones the customers projection holds for a customer who never gave one (customer.created's default).
UNSET_ZONES = frozenset({"", "UTC"})


def zone_for(customer_zone: str | None, default_zone: str) -> str:
    """The zone a customer's quiet hours are judged in: their own, else the policy's default.
    customer.created defaults the zone to UTC, which no utility customer lives in, so UTC reads as
    unset too."""
    return default_zone if customer_zone is None or customer_zone in UNSET_ZONES else customer_zone


def intersect(first: Sequence[TimeWindow], second: Sequence[TimeWindow]) -> list[TimeWindow]:
    """The hours in both lists (each sorted and disjoint, as the models keep them); may be empty."""
    found: list[TimeWindow] = []
    for a in first:
        for b in second:
            start = max(a.start, b.start)
            ends = [end for end in (a.end, b.end) if end is not None]
            end = min(ends) if ends else None
            if end is None or start < end:
                found.append(TimeWindow(start=start, end=end))
    return sorted(found, key=lambda w: w.start)


def parse_windows(texts: Sequence[str]) -> list[TimeWindow]:
    return [TimeWindow.parse(text) for text in texts]


def in_window(wall: time, windows: Sequence[TimeWindow]) -> bool:
    return any(w.start <= wall and (w.end is None or wall < w.end) for w in windows)


def is_allowed(moment: datetime, zone: str, windows: Sequence[TimeWindow]) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    return in_window(local.time().replace(tzinfo=None), windows)


def next_allowed(now: datetime, zone: str, windows: Sequence[TimeWindow]) -> datetime | None:
    """None when `now` (aware) is inside the windows in `zone`; else the next allowed minute, in UTC."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not windows:
        raise ValueError("no sending hours: nothing is ever allowed")
    if is_allowed(now, zone, windows):
        return None
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    horizon = now + timedelta(days=_SEARCH_DAYS)
    candidates = [
        *_window_starts(tz, windows, today - timedelta(days=1), _SEARCH_DAYS + 2),
        *_offset_changes(tz, now, horizon),
    ]
    allowed = [c for c in candidates if c >= now and is_allowed(c, zone, windows)]
    if not allowed:  # unreachable with valid windows; refuse rather than send at a wrong time
        raise ValueError(f"no allowed minute within {_SEARCH_DAYS} days of {now.isoformat()} in {zone}")
    return min(allowed).astimezone(UTC)


def _window_starts(tz: ZoneInfo, windows: Sequence[TimeWindow], first: date, days: int) -> Iterator[datetime]:
    for offset in range(days):
        day = first + timedelta(days=offset)
        for window in windows:
            for fold in (0, 1):  # a repeated hour has two instants with this wall time
                yield datetime.combine(day, window.start, tzinfo=tz).replace(fold=fold).astimezone(UTC)


def _offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """The first minute of each new UTC offset between `start` and `end` (DST changes)."""
    hour = timedelta(hours=1)
    moment = start.astimezone(UTC).replace(second=0, microsecond=0)
    while moment < end:
        following = moment + hour
        if _offset(tz, moment) != _offset(tz, following):
            yield _first_minute_of(tz, moment, following)
        moment = following


def _first_minute_of(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first minute in (before, after] with `after`'s offset; zones change on whole minutes."""
    target = _offset(tz, after)
    low, high = before, after  # low has the old offset, high the new one
    while high - low > _MINUTE:
        middle = low + ((high - low) // 2 // _MINUTE) * _MINUTE
        if _offset(tz, middle) == target:
            high = middle
        else:
            low = middle
    return high


def _offset(tz: ZoneInfo, moment: datetime) -> timedelta | None:
    return moment.astimezone(tz).utcoffset()
