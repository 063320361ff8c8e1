"""Reads → kWh by bill month, day type and local hour: local time, clock changes, the window's edges."""

from __future__ import annotations

from datetime import date

import pandas as pd

from gridjourney.tariffs.usage import WEEKDAY, WEEKEND, usage_from_reads, window_months
from tests.tariffs.support import hourly_reads


def test_the_window_touches_thirteen_months_at_most() -> None:
    assert window_months(date(2023, 12, 31)) == [date(2023, m, 1) for m in range(1, 13)]
    months = window_months(date(2024, 3, 15))  # 365 days back: from 17 March 2023
    assert months[0] == date(2023, 3, 1) and months[-1] == date(2024, 3, 1) and len(months) == 13


def test_reads_are_summed_by_local_hour_and_day_type() -> None:
    # Monday 6 March 2023, 2 kWh in each hour in Chicago; Saturday 11 March, 1 kWh an hour
    reads = pd.concat(
        [
            hourly_reads("c", date(2023, 3, 6), date(2023, 3, 6), lambda h: 2.0, zone="America/Chicago"),
            hourly_reads("c", date(2023, 3, 11), date(2023, 3, 11), zone="America/Chicago"),
        ]
    )
    usage = usage_from_reads(reads, {"c": "America/Chicago"}, date(2023, 3, 31), days=31)
    assert usage.months.tolist() == [3] and usage.days_in_month.tolist() == [31]
    assert usage.days.tolist() == [[2]]
    assert usage.kwh[0, 0, WEEKDAY].tolist() == [2.0] * 24
    assert usage.kwh[0, 0, WEEKEND].tolist() == [1.0] * 24


def test_the_spring_clock_change_has_23_local_hours() -> None:
    # Sunday 12 March 2023 in New York: 02:00-03:00 does not exist; 23 reads of 1 kWh
    reads = hourly_reads("c", date(2023, 3, 12), date(2023, 3, 12), zone="America/New_York")
    assert len(reads) == 23
    usage = usage_from_reads(reads, {"c": "America/New_York"}, date(2023, 3, 31), days=31)
    weekend = usage.kwh[0, 0, WEEKEND]
    assert weekend.sum() == 23.0 and weekend[2] == 0.0 and usage.days.tolist() == [[1]]


def test_reads_outside_the_window_longer_than_an_hour_or_of_other_customers_are_left_out() -> None:
    daily = pd.DataFrame(
        {
            "customer_id": ["c"],
            "read_at": [pd.Timestamp("2023-03-20", tz="UTC")],
            "interval_seconds": [86_400],
            "kwh": [30.0],
        }
    )
    reads = pd.concat(
        [
            hourly_reads("c", date(2023, 2, 28), date(2023, 3, 1)),  # 28 February is before the window
            hourly_reads("other", date(2023, 3, 1), date(2023, 3, 1)),
            daily,
        ]
    )
    usage = usage_from_reads(reads, {"c": "UTC"}, date(2023, 3, 31), days=31)
    assert usage.customers == ["c"] and usage.kwh.sum() == 24.0
    assert usage.days.tolist() == [[1]] and usage.coarse_reads == 1
