"""Members' window figures against their 10-of-10 like-day baseline, many members at once."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from gridjourney.dr.like_days import LikeDayRule
from gridjourney.dr.performance import MemberPerformance, full_hours, member_performance, window_hours

# Half-hourly reads from 1 to 31 January 2013 (UTC): 0.5 kWh every half hour, except on 30 January
# (a Wednesday) from 23:00 to 01:00 the next day, where `shed` uses 0.2 and `gap` has no read at 23:30.
START = datetime(2013, 1, 30, 23, tzinfo=UTC)
END = datetime(2013, 1, 31, 1, tzinfo=UTC)


def reads() -> pd.DataFrame:
    slots = pd.date_range("2013-01-01", "2013-02-01", freq="30min", tz="UTC", inclusive="left")
    in_event = np.asarray((slots >= pd.Timestamp(START)) & (slots < pd.Timestamp(END)))
    frames = []
    for customer_id in ("flat", "shed", "gap"):
        kwh = np.where(in_event & (customer_id == "shed"), 0.2, 0.5)
        frame = pd.DataFrame(
            {"customer_id": customer_id, "read_at": slots, "interval_seconds": 1800, "kwh": kwh}
        )
        if customer_id == "gap":
            frame = frame[frame["read_at"] != pd.Timestamp("2013-01-30 23:30", tz="UTC")]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_a_window_across_midnight_is_judged_day_by_day() -> None:
    zones = {"flat": "UTC", "shed": "UTC", "gap": "UTC"}
    window = window_hours(full_hours(reads(), zones), start=START, end=END, time_zones=zones)
    # `gap` lacks half of an event hour: not known yet.
    assert sorted(window["customer_id"].unique()) == ["flat", "shed"]
    assert list(window.loc[window["customer_id"] == "shed", "hour_start"]) == [
        pd.Timestamp("2013-01-30 23:00", tz="UTC"),
        pd.Timestamp("2013-01-31 00:00", tz="UTC"),
    ]
    figures = member_performance(window)
    assert figures["shed"].baseline_kwh == pytest.approx(2.0)
    assert figures["shed"].kwh_saved == pytest.approx(1.2)
    assert figures["shed"].responded and figures["shed"].credit(0.5) == 0.6
    assert figures["flat"].kwh_saved == pytest.approx(0.0) and not figures["flat"].responded


def test_an_earlier_event_day_is_no_like_day() -> None:
    zones = {"shed": "UTC"}
    every = reads()
    hourly = full_hours(every[every["customer_id"] == "shed"], zones)
    later = datetime(2013, 1, 31, 23, tzinfo=UTC)  # a Thursday: the 30th is its most recent like day
    after = datetime(2013, 2, 1, tzinfo=UTC)
    included = window_hours(hourly, start=later, end=after, time_zones=zones)
    # The 30th's 23:00 hour was shed (0.4 kWh); the 9 other like days used 1.0.
    assert included["baseline_kwh"].iloc[0] == pytest.approx((0.4 + 9 * 1.0) / 10)
    excluded = window_hours(
        hourly, start=later, end=after, time_zones=zones, rule=LikeDayRule(other_events=((START, END),))
    )
    assert excluded["baseline_kwh"].iloc[0] == pytest.approx(1.0)


def test_responded_needs_more_than_noise() -> None:
    assert not MemberPerformance("a", baseline_kwh=10.0, actual_kwh=9.6).responded  # 4 %
    assert MemberPerformance("a", baseline_kwh=10.0, actual_kwh=9.4).responded
    assert not MemberPerformance("a", baseline_kwh=0.5, actual_kwh=0.46).responded  # under 0.05 kWh
    assert MemberPerformance("a", baseline_kwh=1.0, actual_kwh=2.0).credit(0.5) == 0.0
