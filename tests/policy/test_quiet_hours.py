"""Quiet hours in the customer's own zone, across both DST changes of 2026."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridjourney.policy.model import TimeWindow
from gridjourney.policy.quiet_hours import intersect, is_allowed, next_allowed, parse_windows, zone_for

DAYTIME = parse_windows(["08:00-21:00"])
ZONES = ["America/New_York", "America/Chicago", "America/Phoenix", "Pacific/Honolulu"]
# The evenings before the 2026 changes in the US (Phoenix and Honolulu keep their offset).
EVENINGS_BEFORE = [(2026, 3, 7), (2026, 10, 31)]
NY = ZoneInfo("America/New_York")


def local(
    zone: str, year: int, month: int, day: int, hour: int, minute: int, second: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("evening", EVENINGS_BEFORE)
def test_a_message_at_22_the_evening_before_a_change_waits_for_08_local(
    zone: str, evening: tuple[int, int, int]
) -> None:
    now = local(zone, *evening, 22, 0)
    deferred = next_allowed(now, zone, DAYTIME)
    assert deferred is not None and deferred.tzinfo is UTC
    morning = deferred.astimezone(ZoneInfo(zone))
    assert (morning.date() - now.date(), morning.time()) == (timedelta(days=1), time(8, 0))


# (zone, morning after, UTC instant of 08:00 local): the offset changes overnight in the first two.
EXPECTED_MORNINGS = [
    ("America/New_York", (2026, 3, 8), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # EDT, -4
    ("America/New_York", (2026, 11, 1), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),  # EST, -5
    ("America/Chicago", (2026, 3, 8), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),  # CDT, -5
    ("America/Chicago", (2026, 11, 1), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),  # CST, -6
    ("America/Phoenix", (2026, 3, 8), datetime(2026, 3, 8, 15, 0, tzinfo=UTC)),  # MST all year
    ("America/Phoenix", (2026, 11, 1), datetime(2026, 11, 1, 15, 0, tzinfo=UTC)),
    ("Pacific/Honolulu", (2026, 3, 8), datetime(2026, 3, 8, 18, 0, tzinfo=UTC)),  # HST all year
    ("Pacific/Honolulu", (2026, 11, 1), datetime(2026, 11, 1, 18, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("zone", "day", "expected"), EXPECTED_MORNINGS)
def test_the_morning_after_is_the_right_utc_instant(
    zone: str, day: tuple[int, int, int], expected: datetime
) -> None:
    evening = local(zone, *day, 0, 0) - timedelta(hours=2)  # 22:00 the day before, in its own offset
    assert next_allowed(evening, zone, DAYTIME) == expected


@pytest.mark.parametrize("zone", ZONES)
def test_inside_the_window_is_allowed_and_its_edges_are_start_in_end_out(zone: str) -> None:
    assert next_allowed(local(zone, 2026, 3, 8, 12, 0), zone, DAYTIME) is None
    assert next_allowed(local(zone, 2026, 11, 1, 8, 0), zone, DAYTIME) is None
    assert next_allowed(local(zone, 2026, 11, 1, 20, 59, 59), zone, DAYTIME) is None
    after = next_allowed(local(zone, 2026, 11, 1, 21, 0), zone, DAYTIME)
    assert after is not None and after.astimezone(ZoneInfo(zone)) == local(zone, 2026, 11, 2, 8, 0)


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    # 2026-03-08 in New York: 02:00 EST is followed by 03:00 EDT; 02:30 never happens.
    now = local("America/New_York", 2026, 3, 8, 1, 0)
    opened = next_allowed(now, "America/New_York", parse_windows(["02:30-05:00"]))
    assert opened == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the first minute after the jump


def test_a_window_wholly_inside_the_skipped_hour_waits_for_the_next_day() -> None:
    opened = next_allowed(
        local("America/New_York", 2026, 3, 8, 1, 0), "America/New_York", parse_windows(["02:00-02:45"])
    )
    assert opened is not None and opened.astimezone(NY) == local("America/New_York", 2026, 3, 9, 2, 0)


def test_a_window_starting_in_the_repeated_hour_opens_on_its_second_reading() -> None:
    # 2026-11-01 in New York: 01:00-02:00 happens in EDT, then again in EST. At 01:45 EDT a window
    # 01:00-01:30 has passed once; it opens again 15 minutes later, at 01:00 EST.
    now = local("America/New_York", 2026, 11, 1, 1, 45)
    opened = next_allowed(now, "America/New_York", parse_windows(["01:00-01:30"]))
    assert opened == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert opened - now == timedelta(minutes=15)


def test_a_clock_falling_back_into_the_middle_of_a_window_opens_it_then() -> None:
    # At 02:00 EDT the clock reads 01:00 EST, inside 00:30-01:30, which was left at 01:30 EDT.
    now = local("America/New_York", 2026, 11, 1, 1, 40)
    opened = next_allowed(now, "America/New_York", parse_windows(["00:30-01:30"]))
    assert opened == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def test_a_window_ending_in_the_repeated_hour_ends_on_its_first_reading() -> None:
    window = parse_windows(["00:00-01:30"])
    assert is_allowed(local("America/New_York", 2026, 11, 1, 1, 15), "America/New_York", window)
    # 01:45 EDT is out; 01:15 EST (the second reading) is in again.
    assert not is_allowed(local("America/New_York", 2026, 11, 1, 1, 45), "America/New_York", window)
    assert is_allowed(local("America/New_York", 2026, 11, 1, 1, 15, fold=1), "America/New_York", window)


def test_several_windows_the_next_one_today_wins() -> None:
    windows = parse_windows(["07:00-12:00", "13:00-20:00"])
    lunch = local("America/Chicago", 2026, 6, 1, 12, 30)
    opened = next_allowed(lunch, "America/Chicago", windows)
    assert opened is not None and opened.astimezone(ZoneInfo("America/Chicago")).time() == time(13, 0)


def test_the_whole_day_is_never_quiet() -> None:
    assert (
        next_allowed(
            local("America/Chicago", 2026, 3, 8, 2, 30), "America/Chicago", parse_windows(["00:00-24:00"])
        )
        is None
    )


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 1, 1, 12, 0), "America/Chicago", DAYTIME)


def test_a_step_narrows_the_purpose_window() -> None:
    assert [str(w) for w in intersect(DAYTIME, parse_windows(["09:00-18:00"]))] == ["09:00-18:00"]
    assert [str(w) for w in intersect(DAYTIME, parse_windows(["06:00-09:00", "20:00-24:00"]))] == [
        "08:00-09:00",
        "20:00-21:00",
    ]
    assert intersect(DAYTIME, parse_windows(["21:00-23:00"])) == []


def test_a_customer_without_a_zone_is_judged_in_the_policy_default() -> None:
    assert zone_for(None, "America/Chicago") == "America/Chicago"
    assert zone_for("UTC", "America/Chicago") == "America/Chicago"  # customer.created's default
    assert zone_for("America/Phoenix", "America/Chicago") == "America/Phoenix"


# --- properties: the answer is allowed, not in the past, and no earlier minute is ---------------------
PROPERTY_ZONES = [*ZONES, "Europe/London", "Australia/Lord_Howe"]  # Lord Howe shifts by 30 minutes
MINUTES = st.integers(min_value=0, max_value=24 * 60)


@st.composite
def window_lists(draw: st.DrawFn) -> list[TimeWindow]:
    bounds = sorted(set(draw(st.lists(MINUTES, min_size=2, max_size=6))))
    if len(bounds) % 2:
        bounds = bounds[:-1]
    if len(bounds) < 2:
        bounds = [8 * 60, 21 * 60]
    windows = []
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        end_time = None if end == 24 * 60 else time(end // 60, end % 60)
        windows.append(TimeWindow(start=time(start // 60, start % 60), end=end_time))
    return windows


@settings(max_examples=150, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(PROPERTY_ZONES),
    windows=window_lists(),
)
def test_the_next_allowed_minute_is_the_earliest_allowed_one(
    now: datetime, zone: str, windows: list[TimeWindow]
) -> None:
    found = next_allowed(now, zone, windows)
    if found is None:
        assert is_allowed(now, zone, windows)
        return
    assert not is_allowed(now, zone, windows)
    assert found >= now and found.tzinfo is UTC
    assert found.second == 0 and found.microsecond == 0
    assert is_allowed(found, zone, windows)
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < found:
        assert not is_allowed(minute, zone, windows), minute
        minute += timedelta(minutes=1)
