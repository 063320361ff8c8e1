"""The 10-of-10 like-day baseline against hand-worked numbers."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from gridjourney.metering.dr_baseline import dr_performance, like_day_candidates
from gridjourney.metering.holidays import ENGLAND

NY = ZoneInfo("America/New_York")

# Event: Tuesday 9 July 2024, 16:00-18:00 New York time. 4 July (Thursday) is a holiday and 2 July an
# earlier event day. The 10 like days, most recent first: 8, 5, 3, 1 July and 28, 27, 26, 25, 24, 21 June.
HOUR_16 = {
    date(2024, 7, 8): 3.0, date(2024, 7, 5): 2.0, date(2024, 7, 3): 2.0, date(2024, 7, 1): 2.0,
    date(2024, 6, 28): 1.0, date(2024, 6, 27): 1.0, date(2024, 6, 26): 1.0, date(2024, 6, 25): 2.0,
    date(2024, 6, 24): 2.0, date(2024, 6, 21): 4.0,
}  # fmt: skip
LIKE_DAYS = list(HOUR_16)
# Hand-worked: hour 16 baseline = (3+2+2+2+1+1+1+2+2+4)/10 = 2.0; hour 17 = (4 + 9*3)/10 = 3.1.
EVENT_ACTUAL = {16: 0.5, 17: 1.1}


def _value(day: date, hour: int) -> float:
    if day == date(2024, 7, 9):
        return EVENT_ACTUAL.get(hour, 0.5)
    if hour not in (16, 17):
        return 0.5
    if day in HOUR_16:
        return HOUR_16[day] if hour == 16 else (4.0 if day == date(2024, 7, 8) else 3.0)
    if day.weekday() >= 5:
        return 7.0  # weekends: wrong for a weekday event
    return 9.0  # the holiday, the earlier event day and weekdays older than the 10 like days


def _reads() -> pd.DataFrame:
    hours = pd.date_range(pd.Timestamp("2024-06-01", tz=NY), pd.Timestamp("2024-07-10", tz=NY), freq="h")[:-1]
    return pd.DataFrame(
        {
            "read_at": hours.tz_convert("UTC"),
            "interval_seconds": 3600,
            "kwh": [_value(t.date(), t.hour) for t in hours],
        }
    )


def test_ten_of_ten_baseline_matches_the_hand_worked_numbers() -> None:
    result = dr_performance(
        _reads(),
        event_start=datetime(2024, 7, 9, 16, tzinfo=NY),
        event_end=datetime(2024, 7, 9, 18, tzinfo=NY),
        time_zone="America/New_York",
        earlier_event_days=[date(2024, 7, 2)],
    )
    assert result.complete and result.like_days == LIKE_DAYS
    assert [(h.hour, h.actual_kwh) for h in result.hours] == [(16, 0.5), (17, 1.1)]
    assert [h.baseline_kwh for h in result.hours] == [pytest.approx(2.0), pytest.approx(3.1)]
    assert [h.reduction_kwh for h in result.hours] == [pytest.approx(1.5), pytest.approx(2.0)]
    assert result.reduction_kwh == pytest.approx(3.5)


def test_without_the_exclusions_the_baseline_would_differ() -> None:
    # Not naming 2 July as an event day brings it in (9 kWh) and pushes 21 June (4 kWh) out.
    result = dr_performance(
        _reads(),
        event_start=datetime(2024, 7, 9, 16, tzinfo=NY),
        event_end=datetime(2024, 7, 9, 17, tzinfo=NY),
        time_zone="America/New_York",
    )
    assert date(2024, 7, 2) in result.like_days and date(2024, 7, 4) not in result.like_days
    assert result.hours[0].baseline_kwh == pytest.approx((20 - 4 + 9) / 10)


def test_a_weekend_event_uses_weekend_days_and_short_history_is_reported() -> None:
    result = dr_performance(
        _reads(),
        event_start=datetime(2024, 7, 7, 16, tzinfo=NY),
        event_end=datetime(2024, 7, 7, 17, tzinfo=NY),
        time_zone="America/New_York",
    )
    # 1 June 2024 was a Saturday: 11 weekend days before 7 July, the 10 most recent are used.
    assert all(d.weekday() >= 5 for d in result.like_days) and len(result.like_days) == 10
    assert result.hours[0].baseline_kwh == pytest.approx(7.0)
    early = dr_performance(
        _reads(),
        event_start=datetime(2024, 6, 5, 16, tzinfo=NY),
        event_end=datetime(2024, 6, 5, 17, tzinfo=NY),
        time_zone="America/New_York",
    )
    assert not early.complete and len(early.like_days) == 2 and "only 2 like days" in (early.reason or "")


def test_the_holiday_calendar_is_a_parameter() -> None:
    # England's calendar has no 4 July: it becomes a like day; the US one skips it.
    us = like_day_candidates(date(2024, 7, 9), [], 10)
    england = like_day_candidates(date(2024, 7, 9), [], 10, holiday_calendar=ENGLAND)
    assert date(2024, 7, 4) not in us and date(2024, 7, 4) in england
    # and the late-May bank holiday is skipped in England only
    assert date(2024, 5, 27) not in like_day_candidates(date(2024, 6, 3), [], 10, holiday_calendar=ENGLAND)
    assert date(2024, 5, 27) not in like_day_candidates(date(2024, 6, 3), [], 10)  # Memorial Day too
    assert date(2024, 8, 26) in like_day_candidates(date(2024, 8, 28), [], 10)
    assert date(2024, 8, 26) not in like_day_candidates(date(2024, 8, 28), [], 10, holiday_calendar=ENGLAND)
    result = dr_performance(
        _reads(),
        event_start=datetime(2024, 7, 9, 16, tzinfo=NY),
        event_end=datetime(2024, 7, 9, 17, tzinfo=NY),
        time_zone="America/New_York",
        holiday_calendar=ENGLAND,
    )
    assert date(2024, 7, 4) in result.like_days
