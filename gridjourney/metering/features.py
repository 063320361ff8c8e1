"""Daily features and normalised 24-hour load shapes from interval reads, vectorised with pandas.

Everything is computed in the customer's local time: a day is a local calendar day (23 or 25 hours
across DST changes) and an hour is a local clock hour. Reads of several meters of one customer are
added together. Sub-hourly reads are first summed into clock hours, so 15-minute and hourly meters
give comparable features; daily reads count towards `kwh` only.

Definitions (hours are local clock hours, `h` = the hour starting at h:00):
- kwh: the day's total (negative when the customer exported more than it used).
- baseload_kwh: the mean hourly kWh over 01:00-05:00 (hours 1-4), i.e. the overnight average kW.
- peak_kw: the largest hourly kWh of the day (the mean kW over the peak hour); peak_hour: its hour
  (the earliest on ties).
- load_factor: mean hourly kWh / peak_kw (NaN when the peak is not positive).
- evening_morning_ratio: kWh over 17:00-21:00 / kWh over 06:00-10:00 (NaN when the morning is not
  positive).
- is_weekday: Monday to Friday.
- hdd, cdd: heating and cooling degree-days from the day's mean temperature in °F, base 65.
- deviation_28d: kwh / median(kwh over the 28 calendar days before this day) - 1; NaN until at least
  7 of those days have reads (the day itself is excluded so that an anomaly does not mask itself).
- hours, coverage: the clock hours with sub-daily reads, and the read seconds over the day's length,
  so callers can leave out partial days.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

HDD_BASE_F = 65.0
OVERNIGHT_HOURS = (1, 2, 3, 4)
MORNING_HOURS = (6, 7, 8, 9)
EVENING_HOURS = (17, 18, 19, 20)
ROLLING_DAYS = 28
ROLLING_MIN_DAYS = 7
HOUR_COLUMNS_WD = [f"wd_{h:02d}" for h in range(24)]
HOUR_COLUMNS_WE = [f"we_{h:02d}" for h in range(24)]

TimeZones = str | Mapping[str, str]


def _local_frame(reads: pd.DataFrame, time_zone: TimeZones) -> pd.DataFrame:
    """customer_id, wall (naive local time of the read's start), offset (wall - UTC), kwh, seconds."""
    read_at = pd.to_datetime(reads["read_at"])
    if read_at.dt.tz is None:
        raise ValueError("read_at must be time-zone aware")
    utc = read_at.dt.tz_convert("UTC")
    customers = reads["customer_id"].astype(str)
    if isinstance(time_zone, str):
        zones = pd.Series(time_zone, index=reads.index)
    else:
        zones = customers.map(time_zone)
        unknown = customers[zones.isna()].unique()
        if len(unknown):
            raise ValueError(f"no time zone for customer(s) {', '.join(map(str, unknown[:5]))}")
    wall = pd.Series(pd.NaT, index=reads.index, dtype="datetime64[ns]")
    # One conversion per zone: a handful of zones, however many customers.
    for zone, index in zones.groupby(zones, sort=False).groups.items():
        wall.loc[index] = (
            utc.loc[index].dt.tz_convert(str(zone)).dt.tz_localize(None).astype("datetime64[ns]")
        )
    utc_naive = utc.dt.tz_localize(None).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "customer_id": customers.to_numpy(),
            "wall": wall.to_numpy(),
            "offset": (wall - utc_naive).to_numpy(),
            "kwh": reads["kwh"].astype("float64").to_numpy(),
            "seconds": reads["interval_seconds"].astype("int64").to_numpy(),
        }
    )


def hourly_kwh(reads: pd.DataFrame, *, time_zone: TimeZones = "UTC") -> pd.DataFrame:
    """kWh per customer and local clock hour, from the sub-daily reads: customer_id, date (naive local
    midnight), hour (0-23), kwh, seconds. A repeated DST hour gives two rows with the same hour."""
    local = _local_frame(reads, time_zone)
    local = local[local["seconds"] <= 3600]
    wall_hour = local["wall"].dt.floor("h")
    # The hour's UTC start keeps the two 01:00 hours of a DST fall-back apart.
    frame = pd.DataFrame(
        {
            "customer_id": local["customer_id"],
            "key": wall_hour - local["offset"],
            "wall_hour": wall_hour,
            "kwh": local["kwh"],
            "seconds": local["seconds"],
        }
    )
    hourly = (
        frame.groupby(["customer_id", "key"], sort=True)
        .agg(wall_hour=("wall_hour", "first"), kwh=("kwh", "sum"), seconds=("seconds", "sum"))
        .reset_index()
    )
    return pd.DataFrame(
        {
            "customer_id": hourly["customer_id"],
            "date": hourly["wall_hour"].dt.normalize(),
            "hour": hourly["wall_hour"].dt.hour.astype("int64"),
            "kwh": hourly["kwh"],
            "seconds": hourly["seconds"],
        }
    )


def _day_seconds(dates: pd.Series, zones: pd.Series) -> np.ndarray:
    """The length in seconds of each local day (82,800 or 90,000 on DST change days)."""
    pairs = pd.DataFrame({"date": dates, "zone": zones}).drop_duplicates()
    lengths: list[pd.Series] = []
    for zone, group in pairs.groupby("zone", sort=False):
        start = group["date"].dt.tz_localize(str(zone), ambiguous=False, nonexistent="shift_forward")
        end = (group["date"] + pd.Timedelta(days=1)).dt.tz_localize(
            str(zone), ambiguous=False, nonexistent="shift_forward"
        )
        lengths.append(
            pd.Series((end - start).dt.total_seconds().to_numpy(), index=pd.MultiIndex.from_frame(group))
        )
    table = pd.concat(lengths)
    keys = pd.MultiIndex.from_frame(pd.DataFrame({"date": dates, "zone": zones}))
    return np.asarray(table.reindex(keys).to_numpy(), dtype="float64")


def _zones_of(customers: pd.Series, time_zone: TimeZones) -> pd.Series:
    if isinstance(time_zone, str):
        return pd.Series(time_zone, index=customers.index)
    return customers.map(time_zone)


def _hour_mask_mean(hourly: pd.DataFrame, hours: tuple[int, ...], how: str) -> pd.Series:
    subset = hourly[hourly["hour"].isin(hours)]
    grouped = subset.groupby(["customer_id", "date"])["kwh"]
    return grouped.mean() if how == "mean" else grouped.sum()


def daily_features(
    reads: pd.DataFrame,
    *,
    time_zone: TimeZones = "UTC",
    temperatures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (customer_id, date) with the features in this module's docstring.

    `reads`: customer_id, read_at (tz-aware), interval_seconds, kwh. `time_zone`: one IANA zone for all,
    or one per customer. `temperatures`: date and temp_f (the day's mean, °F), with customer_id when it
    differs by customer. `date` in the result is the local date as a naive midnight timestamp.
    """
    local = _local_frame(reads, time_zone)
    local["date"] = local["wall"].dt.normalize()
    totals = local.groupby(["customer_id", "date"]).agg(kwh=("kwh", "sum"), read_seconds=("seconds", "sum"))

    hourly = hourly_kwh(reads, time_zone=time_zone)
    per_day = hourly.groupby(["customer_id", "date"])
    hours = per_day["kwh"].agg(hourly_kwh="sum", hours="count", peak_kw="max")
    # The peak hour: the first row of each day once sorted by kWh descending, then hour ascending.
    ranked = hourly.sort_values(["customer_id", "date", "kwh", "hour"], ascending=[True, True, False, True])
    peak_hour = ranked.drop_duplicates(["customer_id", "date"]).set_index(["customer_id", "date"])["hour"]

    out = totals.join(hours, how="left")
    out["peak_hour"] = peak_hour.reindex(out.index).astype("Int64")
    out["baseload_kwh"] = _hour_mask_mean(hourly, OVERNIGHT_HOURS, "mean").reindex(out.index)
    morning = _hour_mask_mean(hourly, MORNING_HOURS, "sum").reindex(out.index)
    evening = _hour_mask_mean(hourly, EVENING_HOURS, "sum").reindex(out.index)
    out["evening_morning_ratio"] = (evening / morning.where(morning > 0)).astype("float64")
    mean_hourly = out["hourly_kwh"] / out["hours"]
    out["load_factor"] = (mean_hourly / out["peak_kw"].where(out["peak_kw"] > 0)).astype("float64")
    out = out.reset_index()

    out["is_weekday"] = out["date"].dt.dayofweek < 5
    out["hours"] = out["hours"].fillna(0).astype("int64")
    zones = _zones_of(out["customer_id"], time_zone)
    out["coverage"] = out["read_seconds"] / _day_seconds(out["date"], zones)
    out = _with_degree_days(out, temperatures)
    out["deviation_28d"] = _deviation(out)
    columns = [
        "customer_id",
        "date",
        "kwh",
        "baseload_kwh",
        "peak_kw",
        "peak_hour",
        "load_factor",
        "evening_morning_ratio",
        "is_weekday",
        "hdd",
        "cdd",
        "deviation_28d",
        "hours",
        "coverage",
    ]
    return out[columns].sort_values(["customer_id", "date"]).reset_index(drop=True)


def _with_degree_days(out: pd.DataFrame, temperatures: pd.DataFrame | None) -> pd.DataFrame:
    if temperatures is None:
        out["hdd"] = np.nan
        out["cdd"] = np.nan
        return out
    temps = temperatures.copy()
    temps["date"] = pd.to_datetime(temps["date"]).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    keys = ["customer_id", "date"] if "customer_id" in temps.columns else ["date"]
    temps = temps.groupby(keys)["temp_f"].mean().reset_index()
    out["date"] = out["date"].astype("datetime64[ns]")
    merged = out.merge(temps, on=keys, how="left")
    merged["hdd"] = (HDD_BASE_F - merged["temp_f"]).clip(lower=0)
    merged["cdd"] = (merged["temp_f"] - HDD_BASE_F).clip(lower=0)
    return merged.drop(columns="temp_f")


def _deviation(out: pd.DataFrame) -> pd.Series:
    """kwh over the median of the 28 calendar days before, minus 1 (rows sorted by customer, date)."""
    ordered = out.sort_values(["customer_id", "date"])
    median = (
        ordered.set_index("date")
        .groupby("customer_id", sort=False)["kwh"]
        .rolling(f"{ROLLING_DAYS}D", closed="left", min_periods=ROLLING_MIN_DAYS)
        .median()
    )
    aligned = pd.Series(median.to_numpy(), index=ordered.index).reindex(out.index)
    return (out["kwh"] / aligned.where(aligned > 0) - 1).astype("float64")


def load_shapes(reads: pd.DataFrame, *, time_zone: TimeZones = "UTC") -> pd.DataFrame:
    """Per customer, the mean kWh of each local hour on weekdays (wd_00..wd_23) and weekend days
    (we_00..we_23), each half divided by the sum of its absolute values: it sums to 1 when the customer
    never exports, and export hours stay negative (which is what marks a solar household). A half
    without any day is NaN."""
    hourly = hourly_kwh(reads, time_zone=time_zone)
    hourly["part"] = np.where(hourly["date"].dt.dayofweek < 5, "wd", "we")
    means = hourly.groupby(["customer_id", "part", "hour"])["kwh"].mean()
    wide = means.unstack(["part", "hour"])
    halves: list[pd.DataFrame] = []
    for part, names in (("wd", HOUR_COLUMNS_WD), ("we", HOUR_COLUMNS_WE)):
        half = pd.DataFrame(np.nan, index=wide.index, columns=names)
        for hour in range(24):
            if (part, hour) in wide.columns:
                half[names[hour]] = wide[(part, hour)].to_numpy()
        # A day is one hour short across DST, and a sparse customer may miss an hour: count it as 0.
        present = half.notna().any(axis=1)
        half = half.fillna(0.0)
        half.loc[~present] = np.nan
        scale = half.abs().sum(axis=1)
        halves.append(half.div(scale.where(scale > 0), axis=0))
    shapes = pd.concat(halves, axis=1)
    shapes.index.name = "customer_id"
    return shapes
