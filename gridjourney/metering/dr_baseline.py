"""Demand-response performance against the 10-of-10 like-day baseline.

For each hour of the event, the baseline is the mean kWh of that same local clock hour over the 10 most
recent like days before the event day: weekdays for a weekday event, Saturdays and Sundays for a
weekend event; US federal holidays and earlier event days are never like days, and neither is a day
without reads for every event hour. The reduction is baseline - actual. An event hour is a local clock
hour that overlaps the event's period; the event must lie within one local day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from gridjourney.metering.features import hourly_kwh

LIKE_DAYS = 10
MAX_LOOKBACK_DAYS = 60


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Monday = 0) of the month; n = -1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A holiday on Saturday is observed on the Friday before, on Sunday on the Monday after."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def federal_holidays(year: int) -> set[date]:
    """US federal holidays (5 U.S.C. 6103) falling in `year`: the dates themselves and the days they are
    observed on. Juneteenth from 2021. A 1 January on a Saturday is observed on 31 December before."""
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:
        fixed.append(date(year, 6, 19))
    floating = [
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving Day
    ]
    days = set(fixed) | {_observed(d) for d in fixed} | set(floating)
    next_new_year = _observed(date(year + 1, 1, 1))
    if next_new_year.year == year:
        days.add(next_new_year)
    return {d for d in days if d.year == year}


def is_federal_holiday(day: date) -> bool:
    return day in federal_holidays(day.year)


@dataclass(frozen=True)
class HourPerformance:
    hour: int  # local clock hour
    baseline_kwh: float
    actual_kwh: float
    reduction_kwh: float


@dataclass(frozen=True)
class DrPerformance:
    event_day: date
    like_days: list[date]  # most recent first
    hours: list[HourPerformance]
    complete: bool  # False when fewer than the wanted like days (or no event reads) were found
    reason: str | None = None

    @property
    def reduction_kwh(self) -> float:
        return float(sum(h.reduction_kwh for h in self.hours))


def _event_hours(start: datetime, end: datetime, time_zone: str) -> tuple[date, list[int]]:
    local_start = pd.Timestamp(start).tz_convert(time_zone)
    local_end = pd.Timestamp(end).tz_convert(time_zone)
    if local_end <= local_start:
        raise ValueError("the event ends before it starts")
    last = local_end - pd.Timedelta(microseconds=1)
    if last.date() != local_start.date():
        raise ValueError("the event spans two local days; evaluate each day on its own")
    return local_start.date(), list(range(local_start.hour, last.hour + 1))


def dr_performance(
    reads: pd.DataFrame,
    *,
    event_start: datetime,
    event_end: datetime,
    time_zone: str,
    earlier_event_days: Iterable[date] = (),
    like_days: int = LIKE_DAYS,
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
) -> DrPerformance:
    """One customer's baseline, actual and reduction per event hour (reads: read_at, interval_seconds,
    kwh; customer_id optional)."""
    if "customer_id" not in reads.columns:
        reads = reads.assign(customer_id="customer")
    if reads["customer_id"].nunique() > 1:
        raise ValueError("dr_performance takes the reads of one customer")
    event_day, hours = _event_hours(event_start, event_end, time_zone)
    hourly = hourly_kwh(reads, time_zone=time_zone)
    hourly = hourly[hourly["hour"].isin(hours)]
    # The hours of each day (summed: a repeated DST hour counts as one clock hour).
    table = hourly.groupby([hourly["date"].dt.date, "hour"])["kwh"].sum().unstack("hour")
    table = table.reindex(columns=hours)
    excluded = set(earlier_event_days)
    weekend = event_day.weekday() >= 5
    chosen: list[date] = []
    for back in range(1, max_lookback_days + 1):
        day = event_day - timedelta(days=back)
        if (day.weekday() >= 5) != weekend or day in excluded or is_federal_holiday(day):
            continue
        if day in table.index and bool(table.loc[day].notna().all()):
            chosen.append(day)
            if len(chosen) == like_days:
                break
    if event_day not in table.index or not chosen:
        reason = "no reads for the event hours" if event_day not in table.index else "no like days with reads"
        return DrPerformance(event_day=event_day, like_days=chosen, hours=[], complete=False, reason=reason)
    baseline = table.loc[chosen].to_numpy(dtype="float64").mean(axis=0)
    actual = table.loc[[event_day]].to_numpy(dtype="float64")[0]
    performance = [
        HourPerformance(
            hour=hour,
            baseline_kwh=float(baseline[i]),
            actual_kwh=float(actual[i]),
            reduction_kwh=float(baseline[i] - actual[i]),
        )
        for i, hour in enumerate(hours)
    ]
    short = len(chosen) < like_days
    return DrPerformance(
        event_day=event_day,
        like_days=chosen,
        hours=performance,
        complete=not short,
        reason=f"only {len(chosen)} like days in {max_lookback_days} days before the event"
        if short
        else None,
    )
