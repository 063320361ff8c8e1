"""Local-time arithmetic for waits, done outside the workflow sandbox.

The sandbox hands workflow code a proxied `zoneinfo.ZoneInfo` that `datetime.astimezone` refuses;
the workflow imports this module through `imports_passed_through()`, so the real class is used here.
The result depends only on its arguments (and the installed tz database), so it is deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_local_time(now: datetime, at: time, zone_name: str) -> datetime:
    """The first moment at or after `now` when the clock in `zone_name` shows `at` (UTC, aware).

    An unknown zone counts as UTC. A time skipped by a DST change (02:30 on a spring-forward day)
    resolves with the offset before the change, i.e. an hour later on the wall clock.
    """
    tz = zone(zone_name) or UTC
    local_now = now.astimezone(tz)
    for days in (0, 1, 2):  # two days ahead always suffices, even around DST changes
        candidate = datetime.combine(
            local_now.date() + timedelta(days=days), at.replace(tzinfo=None), tzinfo=tz
        )
        # compared in UTC: comparisons within one zone ignore `fold` and misorder the repeated hour
        if candidate.astimezone(UTC) >= now.astimezone(UTC):
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a local time recurs every day")


def local_view(moment: datetime, zone_name: str) -> datetime:
    """`moment` on the clock of `zone_name` (UTC when unknown)."""
    return moment.astimezone(zone(zone_name) or UTC)
