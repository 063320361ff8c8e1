"""Each member's load over a DR event window against their own 10-of-10 like-day baseline.

Pure functions over meter reads (the frames of metering/store.py `load_reads`). The like-day rule is
metering/dr_baseline.py's; here it is applied to many members at once: their reads are summed into
local clock hours in one pass, then each member's hours are judged. An hour counts only when its reads
cover all of it, so a member whose reads do not yet cover every event hour has no figures ("not known
yet"), and a day with a gap in an event hour is not a like day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from gridjourney.dr.like_days import LikeDayRule
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS, event_day_hours, performances_from_hourly
from gridjourney.metering.features import hourly_kwh

# A member responded when they used at least this much less than their baseline over the window: a
# small absolute floor (meter rounding) and a share of the baseline (like-day noise).
RESPONSE_MIN_KWH = 0.05
RESPONSE_MIN_SHARE = 0.05
HOUR_SECONDS = 3600
DEFAULT_RULE = LikeDayRule()  # US federal holidays, no other events


@dataclass(frozen=True)
class MemberPerformance:
    """One member's energy over the whole event window."""

    customer_id: str
    baseline_kwh: float
    actual_kwh: float

    @property
    def kwh_saved(self) -> float:
        return self.baseline_kwh - self.actual_kwh

    @property
    def responded(self) -> bool:
        return self.kwh_saved > max(RESPONSE_MIN_KWH, RESPONSE_MIN_SHARE * self.baseline_kwh)

    def credit(self, credit_per_kwh: float) -> float:
        """The bill credit: kWh saved (never below zero) times the program's rate."""
        return round(max(0.0, self.kwh_saved) * credit_per_kwh, 2)


def full_hours(reads: pd.DataFrame, time_zones: Mapping[str, str]) -> pd.DataFrame:
    """kWh per member and local clock hour, keeping only hours whose reads cover the whole hour."""
    if reads.empty:
        return empty_hours()
    hourly = hourly_kwh(reads, time_zone=dict(time_zones))
    return hourly[hourly["seconds"] >= HOUR_SECONDS]


def empty_hours() -> pd.DataFrame:
    """The frame of `full_hours` without reads, typed as one with reads: it is concatenated with
    others (dr/gather.py loads a group of members at a time), and an untyped `date` column would turn
    the joined column to objects."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[ns]"),
            "hour": pd.Series(dtype="int64"),
            "kwh": pd.Series(dtype="float64"),
            "seconds": pd.Series(dtype="int64"),
        }
    )


def window_hours(
    hourly: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    time_zones: Mapping[str, str],
    rule: LikeDayRule = DEFAULT_RULE,
) -> pd.DataFrame:
    """customer_id, hour_start (UTC), baseline_kwh, actual_kwh for every event hour of every member
    whose reads cover the window (`hourly` from `full_hours`), like days chosen by `rule`. Members
    without figures are absent."""
    if hourly.empty:
        return empty_window()
    frames: list[pd.DataFrame] = []
    zones = pd.Series(time_zones, dtype=object)
    for zone, members in zones.groupby(zones):
        parts = event_day_hours(start, end, str(zone))
        excluded = rule.excluded_days(str(zone)) - {day for day, _ in parts}
        earliest = pd.Timestamp(parts[0][0] - timedelta(days=MAX_LOOKBACK_DAYS))
        near = hourly[
            hourly["customer_id"].isin(members.index)
            & (hourly["date"] >= earliest)
            & (hourly["date"] <= pd.Timestamp(parts[-1][0]))
        ]
        judged = [
            performances_from_hourly(
                near,
                event_day=day,
                hours=hours,
                earlier_event_days=excluded,
                holiday_calendar=rule.holiday_calendar,
            )
            for day, hours in parts
        ]
        covered = set.intersection(*({c for c, p in part.items() if p.hours} for part in judged))
        rows = [
            (
                customer_id,
                _hour_start(part.event_day, hour.hour, str(zone)),
                hour.baseline_kwh,
                hour.actual_kwh,
            )
            for one_day in judged
            for customer_id, part in one_day.items()
            if customer_id in covered
            for hour in part.hours
        ]
        if rows:
            frames.append(
                pd.DataFrame(rows, columns=["customer_id", "hour_start", "baseline_kwh", "actual_kwh"])
            )
    if not frames:
        return empty_window()
    return pd.concat(frames, ignore_index=True).sort_values(["customer_id", "hour_start"], ignore_index=True)


def _hour_start(day: date, hour: int, zone: str) -> pd.Timestamp:
    local = pd.Timestamp(datetime(day.year, day.month, day.day, hour))
    return local.tz_localize(zone, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")


def empty_window() -> pd.DataFrame:
    """The frame of `window_hours` without members."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "hour_start": pd.Series(dtype="datetime64[ns, UTC]"),
            "baseline_kwh": pd.Series(dtype="float64"),
            "actual_kwh": pd.Series(dtype="float64"),
        }
    )


def member_performance(window: pd.DataFrame) -> dict[str, MemberPerformance]:
    """Each member's window totals, from the frame of `window_hours`."""
    totals = window.groupby("customer_id")[["baseline_kwh", "actual_kwh"]].sum()
    return {
        str(customer_id): MemberPerformance(
            customer_id=str(customer_id),
            baseline_kwh=float(row.baseline_kwh),
            actual_kwh=float(row.actual_kwh),
        )
        for customer_id, row in totals.iterrows()
    }
