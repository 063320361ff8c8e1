"""Per-zone time lines: UTC interval starts from local midnight, local clock, day types, temperature.

Temperature is seasonal + daily cycle + an AR(1) day-to-day weather anomaly + a little hourly noise,
with each zone's own climate, so customers in Phoenix cool and customers in Chicago heat. The daily
means are stored under one station per zone (SIMULATOR_STATIONS in gridjourney/weather/stations.py,
the default `weather_stations` mapping).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.metering.holidays import holidays_between

# zone: (annual mean °C, seasonal amplitude, daily amplitude, share of customers)
CLIMATES: dict[str, tuple[float, float, float, float]] = {
    "America/New_York": (13.0, 12.0, 4.5, 0.30),
    "America/Chicago": (10.5, 15.0, 5.0, 0.25),
    "America/Denver": (10.0, 11.5, 7.0, 0.10),
    "America/Phoenix": (24.0, 10.0, 7.5, 0.10),
    "America/Los_Angeles": (18.0, 5.0, 5.0, 0.25),
}
ZONES: tuple[str, ...] = tuple(CLIMATES)


@dataclass(frozen=True)
class ZoneTimeline:
    zone: str
    read_at: npt.NDArray[np.datetime64]  # UTC interval starts, naive datetime64[ns] in UTC
    interval_of_day: npt.NDArray[np.int64]  # local clock
    local_day: npt.NDArray[np.int64]  # 0..days-1 from the start date
    weekend: npt.NDArray[np.bool_]  # weekend or holiday
    temperature: npt.NDArray[np.float64]  # °C
    daily_temperature: npt.NDArray[np.float64]  # mean °C per local day
    day_of_year: npt.NDArray[np.int64]


def zone_timeline(zone: str, start: date, days: int, interval_minutes: int, seed: int) -> ZoneTimeline:
    per_day = 24 * 60 // interval_minutes
    local_start = pd.Timestamp(start).tz_localize(zone)
    utc = pd.date_range(local_start.tz_convert("UTC"), periods=days * per_day, freq=f"{interval_minutes}min")
    local = utc.tz_convert(zone)
    minutes = local.hour * 60 + local.minute
    tod = np.asarray(minutes // interval_minutes, dtype=np.int64)
    local_dates = np.asarray(local.normalize().tz_localize(None).values.astype("datetime64[D]"))
    day_idx = (local_dates - np.datetime64(start, "D")).astype(np.int64)
    day_idx = np.clip(day_idx, 0, days - 1)
    calendar = pd.date_range(pd.Timestamp(start), periods=days, freq="D")
    holidays = holidays_between(start, calendar[-1].date())
    day_weekend = np.array([d.weekday() >= 5 or d.date() in holidays for d in calendar])
    mean, seasonal, daily_amp, _ = CLIMATES[zone]
    rng = np.random.default_rng([seed, ZONES.index(zone), 17])
    # Day-to-day weather: AR(1) so warm and cold spells last a few days.
    shocks = rng.normal(0.0, 2.2, size=days)
    anomaly = np.empty(days)
    level = 0.0
    for i, shock in enumerate(shocks):
        level = 0.75 * level + shock
        anomaly[i] = level
    doy = np.asarray(calendar.day_of_year, dtype=np.int64)
    day_mean = mean - seasonal * np.cos(2 * np.pi * (doy - 20) / 365.25) + anomaly
    hour = minutes / 60.0
    temp = (
        day_mean[day_idx]
        + daily_amp * np.cos(2 * np.pi * (np.asarray(hour) - 15.0) / 24.0)
        + rng.normal(0.0, 0.6, size=len(utc))
    )
    return ZoneTimeline(
        zone=zone,
        read_at=np.asarray(utc.tz_localize(None).values),
        interval_of_day=tod,
        local_day=day_idx,
        weekend=day_weekend[day_idx],
        temperature=temp,
        daily_temperature=np.bincount(day_idx, weights=temp, minlength=days)
        / np.maximum(np.bincount(day_idx, minlength=days), 1),
        day_of_year=doy,
    )
