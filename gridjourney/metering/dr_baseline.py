"""Demand-response performance against the 10-of-10 like-day baseline.

For each hour of the event, the baseline is the mean kWh of that same local clock hour over the 10 most
recent like days before the event day: weekdays for a weekday event, Saturdays and Sundays for a
weekend event; holidays (of the calendar given: US federal by default, metering/holidays.py) and
earlier event days are never like days, and neither is a day without reads for every event hour.
The reduction is baseline - actual. An event hour is a local clock hour that overlaps the event's
period; the event must lie within one local day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from gridjourney.metering.features import hourly_kwh
from gridjourney.metering.holidays import US, is_holiday

LIKE_DAYS = 10
MAX_LOOKBACK_DAYS = 60


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


def event_day_hours(start: datetime, end: datetime, time_zone: str) -> list[tuple[date, list[int]]]:
    """The local days an event window touches, each with its event hours (a window across local
    midnight is judged day by day, each day against its own like days)."""
    local_start = pd.Timestamp(start).tz_convert(time_zone)
    local_end = pd.Timestamp(end).tz_convert(time_zone)
    if local_end <= local_start:
        raise ValueError("the event ends before it starts")
    last = local_end - pd.Timedelta(microseconds=1)
    days: list[tuple[date, list[int]]] = []
    day = local_start.date()
    while day <= last.date():
        first_hour = local_start.hour if day == local_start.date() else 0
        last_hour = last.hour if day == last.date() else 23
        days.append((day, list(range(first_hour, last_hour + 1))))
        day += timedelta(days=1)
    return days


def dr_performance(
    reads: pd.DataFrame,
    *,
    event_start: datetime,
    event_end: datetime,
    time_zone: str,
    earlier_event_days: Iterable[date] = (),
    like_days: int = LIKE_DAYS,
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
    holiday_calendar: str = US,
) -> DrPerformance:
    """One customer's baseline, actual and reduction per event hour (reads: read_at, interval_seconds,
    kwh; customer_id optional)."""
    if "customer_id" not in reads.columns:
        reads = reads.assign(customer_id="customer")
    if reads["customer_id"].nunique() > 1:
        raise ValueError("dr_performance takes the reads of one customer")
    event_day, hours = _event_hours(event_start, event_end, time_zone)
    return performance_from_hourly(
        hourly_kwh(reads, time_zone=time_zone),
        event_day=event_day,
        hours=hours,
        earlier_event_days=earlier_event_days,
        like_days=like_days,
        max_lookback_days=max_lookback_days,
        holiday_calendar=holiday_calendar,
    )


def performance_from_hourly(
    hourly: pd.DataFrame,
    *,
    event_day: date,
    hours: list[int],
    earlier_event_days: Iterable[date] = (),
    like_days: int = LIKE_DAYS,
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
    holiday_calendar: str = US,
) -> DrPerformance:
    """`dr_performance` from one customer's kWh per local clock hour (the frame of
    metering/features.py `hourly_kwh`)."""
    judged = performances_from_hourly(
        hourly.assign(customer_id="customer"),
        event_day=event_day,
        hours=hours,
        earlier_event_days=earlier_event_days,
        like_days=like_days,
        max_lookback_days=max_lookback_days,
        holiday_calendar=holiday_calendar,
    )
    return judged.get("customer") or DrPerformance(
        event_day=event_day, like_days=[], hours=[], complete=False, reason="no reads for the event hours"
    )


def like_day_candidates(
    event_day: date, excluded: Iterable[date], max_lookback_days: int, holiday_calendar: str = US
) -> list[date]:
    """The days that may be like days, most recent first: the same kind of day (weekday or weekend),
    neither a holiday of `holiday_calendar` nor an excluded (earlier event) day, within the lookback."""
    weekend = event_day.weekday() >= 5
    skip = set(excluded)
    candidates = (event_day - timedelta(days=back) for back in range(1, max_lookback_days + 1))
    return [
        day
        for day in candidates
        if (day.weekday() >= 5) == weekend and day not in skip and not is_holiday(day, holiday_calendar)
    ]


def performances_from_hourly(
    hourly: pd.DataFrame,
    *,
    event_day: date,
    hours: list[int],
    earlier_event_days: Iterable[date] = (),
    like_days: int = LIKE_DAYS,
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
    holiday_calendar: str = US,
) -> dict[str, DrPerformance]:
    """customer id -> DrPerformance, for every customer of `hourly` (the frame of
    metering/features.py `hourly_kwh`, all in one time zone), judged at once: a like day is a candidate
    day with reads for every event hour, and the `like_days` most recent of them make the baseline."""
    candidates = like_day_candidates(event_day, earlier_event_days, max_lookback_days, holiday_calendar)
    days = [*candidates, event_day]
    day_of = hourly["date"].dt.date
    hourly = hourly[hourly["hour"].isin(hours) & day_of.isin(days)]
    if hourly.empty:
        return {}
    # customers x days x hours (summed: a repeated DST hour counts as one clock hour); NaN = no read.
    table = hourly.groupby(["customer_id", hourly["date"].dt.date, "hour"])["kwh"].sum()
    customers = table.index.get_level_values(0).unique()
    grid = pd.MultiIndex.from_product([customers, days, hours])
    cube = table.reindex(grid).to_numpy(dtype="float64").reshape(len(customers), len(days), len(hours))
    complete = ~np.isnan(cube).any(axis=2)
    usable = complete[:, : len(candidates)]
    chosen = usable & (np.cumsum(usable, axis=1) <= like_days)
    counts = chosen.sum(axis=1)
    sums = np.where(chosen[:, :, None], np.nan_to_num(cube[:, : len(candidates)]), 0.0).sum(axis=1)
    judged: dict[str, DrPerformance] = {}
    for index, customer_id in enumerate(customers):
        picked = [day for day, taken in zip(candidates, chosen[index], strict=True) if taken]
        if not complete[index, -1] or not picked:
            reason = "no reads for the event hours" if not complete[index, -1] else "no like days with reads"
            judged[str(customer_id)] = DrPerformance(
                event_day=event_day, like_days=picked, hours=[], complete=False, reason=reason
            )
            continue
        baseline = sums[index] / counts[index]
        actual = cube[index, -1]
        short = len(picked) < like_days
        judged[str(customer_id)] = DrPerformance(
            event_day=event_day,
            like_days=picked,
            hours=[
                HourPerformance(
                    hour=hour,
                    baseline_kwh=float(baseline[i]),
                    actual_kwh=float(actual[i]),
                    reduction_kwh=float(baseline[i] - actual[i]),
                )
                for i, hour in enumerate(hours)
            ],
            complete=not short,
            reason=f"only {len(picked)} like days in {max_lookback_days} days before the event"
            if short
            else None,
        )
    return judged
