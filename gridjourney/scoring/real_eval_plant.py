"""Labelled anomalies planted into copies of real series, at positions reproducible by seed.

Each copy holds one planted anomaly of one kind, on whole local days of the meter:
- plus_50pct: every read x 1.5 for 5 days;
- zero: every read 0 for 2 days;
- plus_1kw: +1 kW (+0.5 kWh a half hour) for 7 days;
- spike_3kw: +3 kW for 3 hours (one day, at a random hour);
- shifted_peak: each day's reads moved 4 hours later (the evening peak with them) for 5 days.

Positions avoid the start of the series (the detectors need a history) and windows where the clean
series is already unusual: missing or partial days and days of no use (real vacancies and faults are
real events; planting on top of them would measure nothing).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

WARMUP_DAYS = 42  # a 28-day baseline plus the 14-day start of each meter's own calibration
MARGIN_DAYS = 3  # clean days wanted on each side of a planted anomaly
SHIFT_HOURS = 4
COPY_SEPARATOR = "#"


@dataclass(frozen=True)
class Kind:
    name: str
    days: int
    expected_type: str  # the alert type that names it correctly


KINDS: tuple[Kind, ...] = (
    Kind("plus_50pct", 5, "step_increase"),
    Kind("zero", 2, "no_use"),
    Kind("plus_1kw", 7, "added_baseload"),
    Kind("spike_3kw", 1, "spike"),
    Kind("shifted_peak", 5, "shifted_peak"),
)
KIND_BY_NAME = {k.name: k for k in KINDS}


def local_walls(reads: pd.DataFrame, time_zones: dict[str, str]) -> pd.Series:
    """Each read's local wall-clock start (naive), aligned with `reads`."""
    out = pd.Series(pd.NaT, index=reads.index, dtype="datetime64[ns]")
    zone_of = reads["customer_id"].map(time_zones)
    for zone, rows in reads.groupby(zone_of).groups.items():
        local = pd.DatetimeIndex(reads.loc[rows, "read_at"]).tz_convert(str(zone)).tz_localize(None)
        out.loc[rows] = local.as_unit("ns")
    return out


def eligible_onsets(clean_daily: pd.DataFrame, kind: Kind) -> npt.NDArray[np.datetime64]:
    """Onset days of one meter where the kind fits among whole, used days of the clean series."""
    d = clean_daily.sort_values("date")
    dates = pd.DatetimeIndex(pd.to_datetime(d["date"]))
    usual = float(d["kwh"].median()) if len(d) else 0.0
    good_day = (d["coverage"].to_numpy() >= 0.99) & (d["kwh"].to_numpy() > 0.1 * usual)
    if not len(dates):
        return np.array([], dtype="datetime64[ns]")
    calendar = pd.date_range(dates[0], dates[-1], freq="D")
    good = np.zeros(len(calendar), dtype=bool)
    good[calendar.get_indexer(dates)] = good_day
    span = kind.days + 2 * MARGIN_DAYS
    onsets = []
    for i in range(WARMUP_DAYS, len(calendar) - kind.days - MARGIN_DAYS):
        if good[i - MARGIN_DAYS : i - MARGIN_DAYS + span].all():
            onsets.append(calendar[i])
    return np.array(onsets, dtype="datetime64[ns]")


def rng_for(seed: int, customer_id: str, kind: str) -> np.random.Generator:
    # crc32, not hash(): the same seed gives the same positions in every process.
    return np.random.default_rng([seed, zlib.crc32(customer_id.encode()), zlib.crc32(kind.encode())])


def plant(
    reads: pd.DataFrame, walls: pd.Series, kind: Kind, onset: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """A copy of one meter's reads (customer_id, read_at, interval_seconds, kwh; `walls`: their local
    wall-clock starts) with the kind planted from `onset` (a local day)."""
    out = reads.copy()
    days = walls.dt.normalize()
    window = (days >= onset) & (days < onset + pd.Timedelta(days=kind.days))
    kw_to_kwh = out["interval_seconds"].to_numpy() / 3600.0
    if kind.name == "plus_50pct":
        out.loc[window, "kwh"] = out.loc[window, "kwh"] * 1.5
    elif kind.name == "zero":
        out.loc[window, "kwh"] = 0.0
    elif kind.name == "plus_1kw":
        out.loc[window, "kwh"] = out.loc[window, "kwh"] + 1.0 * kw_to_kwh[window.to_numpy()]
    elif kind.name == "spike_3kw":
        hour = int(rng.integers(0, 21))
        local_hour = walls.dt.hour.to_numpy()
        hit = window.to_numpy() & (local_hour >= hour) & (local_hour < hour + 3)
        out.loc[hit, "kwh"] = out.loc[hit, "kwh"] + 3.0 * kw_to_kwh[hit]
    elif kind.name == "shifted_peak":
        for _, rows in out[window].groupby(days[window]).groups.items():
            day = out.loc[rows].sort_values("read_at")
            slots = round(SHIFT_HOURS * 3600 / float(day["interval_seconds"].iloc[0]))
            out.loc[day.index, "kwh"] = np.roll(day["kwh"].to_numpy(), slots)
    else:
        raise ValueError(f"unknown kind {kind.name}")
    return out


def copy_id(customer_id: str, kind: str, n: int) -> str:
    return f"{customer_id}{COPY_SEPARATOR}{kind}{COPY_SEPARATOR}{n}"
