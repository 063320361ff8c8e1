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
- temperature_c: the day's mean outdoor temperature in °C (NaN without one); the per-meter weather
  model in gridjourney/scoring/degree_days.py works from it.
- hdd, cdd: heating and cooling degree-days from the day's mean temperature in °F, base 65.
- median_hour_kwh: the median of the day's hourly kWh (a change of the whole day moves it; one busy
  evening does not).
- profile_log_ratio: the median over the day's hours of log((kWh + 0.02) / (usual + 0.02)), where an
  hour's usual is the median of that clock hour over the 20 workdays or 8 weekend days before (the
  day's kind); NaN before half of those days have reads or when fewer than 20 hours have one. A whole
  day scaled by x lifts every hour alike and gives about log(x); a few busy hours leave it.
- distinct_hours: how many different hourly kWh values the day has (1: a flat line, a stuck meter).
- deviation_28d: kwh / median(kwh over the 28 calendar days before this day) - 1; NaN until at least
  7 of those days have reads (the day itself is excluded so that an anomaly does not mask itself).
- A day with sub-daily reads ignores any daily read of that day (files often carry both).
- hours, coverage: the clock hours with sub-daily reads, and the read seconds over the day's length,
  so callers can leave out partial days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

HDD_BASE_F = 65.0
OVERNIGHT_HOURS = (1, 2, 3, 4)
MORNING_HOURS = (6, 7, 8, 9)
EVENING_HOURS = (17, 18, 19, 20)
ROLLING_DAYS = 28
ROLLING_MIN_DAYS = 7
HOUR_COLUMNS_WD = [f"wd_{h:02d}" for h in range(24)]
HOUR_COLUMNS_WE = [f"we_{h:02d}" for h in range(24)]

TimeZones = str | Mapping[str, str]


HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
# profile_log_ratio: each hour against the same hour of the last PROFILE_DAYS days of the same kind
# (workdays, weekend days); PROFILE_FLOOR_KWH keeps an hour near zero from making a ratio of noise.
PROFILE_DAYS = {"workday": 20, "weekend": 8}
PROFILE_FLOOR_KWH = 0.02
PROFILE_MIN_HOURS = 20
PROFILE_CHUNK = 2000  # customers at a time: the hour-by-day cube of a utility would not fit in memory


@dataclass(frozen=True)
class _Local:
    """Reads in local time as flat numpy arrays: customer code (into `customers`), local wall-clock
    nanoseconds, UTC offset nanoseconds, kWh, interval seconds."""

    customers: pd.Index
    code: np.ndarray
    wall: np.ndarray
    offset: np.ndarray
    kwh: np.ndarray
    seconds: np.ndarray

    def subset(self, mask: np.ndarray) -> _Local:
        return _Local(
            self.customers,
            self.code[mask],
            self.wall[mask],
            self.offset[mask],
            self.kwh[mask],
            self.seconds[mask],
        )


def _localise(reads: pd.DataFrame, time_zone: TimeZones) -> _Local:
    read_at = pd.DatetimeIndex(reads["read_at"])
    if read_at.tz is None:
        raise ValueError("read_at must be time-zone aware")
    utc = read_at.tz_convert("UTC")
    utc_ns = utc.tz_localize(None).as_unit("ns").asi8
    code, customers = pd.factorize(reads["customer_id"])
    offset = np.zeros(len(reads), dtype="int64")
    if isinstance(time_zone, str):
        offset[:] = utc.tz_convert(time_zone).tz_localize(None).as_unit("ns").asi8 - utc_ns
    else:
        zone_of_code = pd.Series(customers).map(time_zone)
        if zone_of_code.isna().any():
            unknown = ", ".join(map(str, customers[zone_of_code.isna().to_numpy()][:5]))
            raise ValueError(f"no time zone for customer(s) {unknown}")
        zone_codes, zones = pd.factorize(zone_of_code.to_numpy(dtype=object))
        row_zone = zone_codes[code]
        # One conversion per zone: a handful of zones, however many customers.
        for z, zone in enumerate(zones):
            rows = np.flatnonzero(row_zone == z)
            local = utc[rows].tz_convert(str(zone)).tz_localize(None).as_unit("ns").asi8
            offset[rows] = local - utc_ns[rows]
    return _Local(
        customers=pd.Index(np.asarray(customers, dtype=object)),
        code=code.astype("int64"),
        wall=utc_ns + offset,
        offset=offset,
        kwh=reads["kwh"].to_numpy(dtype="float64"),
        seconds=reads["interval_seconds"].to_numpy(dtype="int64"),
    )


def _group(code: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by (code, key), sorted: (group of each row, code of each group, key of each group)."""
    if not len(key):
        empty = np.zeros(0, dtype="int64")
        return empty, empty, empty
    low = int(key.min())
    span = int(key.max()) - low + 1
    combined = code * span + (key - low)
    size = (int(code.max()) + 1) * span
    if size <= max(4 * len(combined), 1 << 20):
        # Dense keys (the usual case: many rows per customer-hour): a counting sort, no hashing.
        present = np.bincount(combined, minlength=size) > 0
        unique = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        group = rank[combined]
    else:
        group, unique = pd.factorize(combined, sort=True)
    return group, unique // span, unique % span + low


def _first_row(group: np.ndarray, n_groups: int) -> np.ndarray:
    first = np.empty(n_groups, dtype="int64")
    first[group[::-1]] = np.arange(len(group) - 1, -1, -1)  # later writes win: the first row
    return first


def _hourly(local: _Local) -> pd.DataFrame:
    """Sub-daily reads summed into local clock hours: code, day (local midnight, ns), hour, kwh, seconds.
    Keyed by the hour's UTC start, so the two 01:00 hours of a DST fall-back stay apart."""
    sub = local.subset(local.seconds <= 3600)
    wall_hour = sub.wall // HOUR_NS * HOUR_NS
    group, code, _ = _group(sub.code, (wall_hour - sub.offset) // HOUR_NS)
    n = len(code)
    wall = wall_hour[_first_row(group, n)] if n else np.zeros(0, dtype="int64")
    day = wall // DAY_NS * DAY_NS
    return pd.DataFrame(
        {
            "code": code,
            "day": day,
            "hour": (wall - day) // HOUR_NS,
            "kwh": np.bincount(group, weights=sub.kwh, minlength=n),
            "seconds": np.bincount(group, weights=sub.seconds, minlength=n),
        }
    )


def hourly_kwh(reads: pd.DataFrame, *, time_zone: TimeZones = "UTC") -> pd.DataFrame:
    """kWh per customer and local clock hour, from the sub-daily reads: customer_id, date (naive local
    midnight), hour (0-23), kwh, seconds. A repeated DST hour gives two rows with the same hour."""
    local = _localise(reads, time_zone)
    hourly = _hourly(local)
    return pd.DataFrame(
        {
            "customer_id": local.customers.take(hourly["code"].to_numpy()),
            "date": pd.to_datetime(hourly["day"].to_numpy(), unit="ns"),
            "hour": hourly["hour"].to_numpy(),
            "kwh": hourly["kwh"].to_numpy(),
            "seconds": hourly["seconds"].to_numpy().astype("int64"),
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


def _per_group_mean(group: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(group[mask], minlength=n)
    sums = np.bincount(group[mask], weights=values[mask], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _per_group_sum(group: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(group[mask], minlength=n)
    sums = np.bincount(group[mask], weights=values[mask], minlength=n)
    return np.where(counts > 0, sums, np.nan)


def _per_group_median(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The median of each group's values (NaN for an empty group), by one sort."""
    order = np.lexsort((values, group))
    counts = np.bincount(group, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_values = values[order]
    low = (
        sorted_values[np.minimum(starts + (counts - 1) // 2, max(len(values) - 1, 0))]
        if len(values)
        else counts * 0.0
    )
    high = (
        sorted_values[np.minimum(starts + counts // 2, max(len(values) - 1, 0))]
        if len(values)
        else counts * 0.0
    )
    return np.where(counts > 0, (low + high) / 2.0, np.nan)


def daily_features(
    reads: pd.DataFrame,
    *,
    time_zone: TimeZones = "UTC",
    temperatures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (customer_id, date) with the features in this module's docstring.

    `reads`: customer_id, read_at (tz-aware), interval_seconds, kwh. `time_zone`: one IANA zone for all,
    or one per customer. `temperatures`: date and temp_f (the day's mean, °F) or temperature_c (°C),
    with customer_id when it differs by customer. `date` in the result is the local date as a naive
    midnight timestamp.
    """
    local = _localise(reads, time_zone)
    hourly = _hourly(local)
    longer = local.subset(local.seconds > 3600)
    # A day with sub-daily reads takes its total from them: a daily read of the same day would double it.
    longer_day = longer.wall // DAY_NS
    hourly_keys = hourly["code"].to_numpy() * (1 << 32) + hourly["day"].to_numpy() // DAY_NS
    longer = longer.subset(~np.isin(longer.code * (1 << 32) + longer_day, hourly_keys))
    n_hourly = len(hourly)
    # Hourly rows first, then the daily (or longer) reads: both count towards the day's total.
    codes = np.concatenate([hourly["code"].to_numpy(), longer.code])
    days = np.concatenate([hourly["day"].to_numpy(), longer.wall // DAY_NS * DAY_NS])
    kwh_all = np.concatenate([hourly["kwh"].to_numpy(), longer.kwh])
    seconds_all = np.concatenate([hourly["seconds"].to_numpy(), longer.seconds.astype("float64")])
    group, day_code, day_index = _group(codes, days // DAY_NS)
    n = len(day_code)

    g = group[:n_hourly]
    kwh = hourly["kwh"].to_numpy()
    hour = hourly["hour"].to_numpy()
    every = np.ones(n_hourly, dtype=bool)
    hours = np.bincount(g, minlength=n)
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, g, kwh)
    peak = np.where(hours > 0, peak, np.nan)
    # The earliest hour whose kWh equals the day's peak.
    at_peak = kwh == peak[g]
    peak_hour = np.full(n, 99, dtype="int64")
    np.minimum.at(peak_hour, g[at_peak], hour[at_peak])
    morning = _per_group_sum(g, kwh, np.isin(hour, MORNING_HOURS), n)
    evening = _per_group_sum(g, kwh, np.isin(hour, EVENING_HOURS), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        load_factor = np.where(peak > 0, _per_group_mean(g, kwh, every, n) / peak, np.nan)
        ratio = np.where(morning > 0, evening / morning, np.nan)

    out = pd.DataFrame(
        {
            "customer_id": local.customers.take(day_code).to_numpy(),
            "date": pd.to_datetime(day_index * DAY_NS, unit="ns"),
            "kwh": np.bincount(group, weights=kwh_all, minlength=n),
            "baseload_kwh": _per_group_mean(g, kwh, np.isin(hour, OVERNIGHT_HOURS), n),
            "peak_kw": peak,
            "peak_hour": pd.array(np.where(hours > 0, peak_hour, 0), dtype="Int64"),
            "load_factor": load_factor,
            "evening_morning_ratio": ratio,
            "hours": hours.astype("int64"),
            "read_seconds": np.bincount(group, weights=seconds_all, minlength=n),
        }
    )
    out.loc[hours == 0, "peak_hour"] = pd.NA
    out["median_hour_kwh"] = _per_group_median(g, kwh, n)
    out["profile_log_ratio"] = _profile_log_ratio(hourly, len(local.customers), day_code, day_index)
    # Distinct hourly values: a stuck meter repeats one reading all day.
    rounded = pd.DataFrame({"g": g, "kwh": np.round(kwh, 4)}).drop_duplicates()
    out["distinct_hours"] = np.bincount(rounded["g"].to_numpy(), minlength=n).astype("int64")
    out["is_weekday"] = out["date"].dt.day_of_week < 5
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
        "median_hour_kwh",
        "profile_log_ratio",
        "load_factor",
        "evening_morning_ratio",
        "is_weekday",
        "temperature_c",
        "hdd",
        "cdd",
        "deviation_28d",
        "hours",
        "distinct_hours",
        "coverage",
    ]
    return out[columns]


def _nanmedian_last(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median over the last axis ignoring NaN, count of values): one sort, NaN last (np.nanmedian
    along an axis is an order of magnitude slower)."""
    ordered = np.sort(values, axis=-1)
    count = (~np.isnan(ordered)).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.minimum(count // 2, values.shape[-1] - 1)[..., None], axis=-1)[
        ..., 0
    ]
    return np.where(count > 0, (low + high) / 2.0, np.nan), count


def _trailing_median(values: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Median of the `window` columns before each column (NaN with fewer than `min_count` values)."""
    padded = np.concatenate([np.full((values.shape[0], window), np.nan), values[:, :-1]], axis=1)
    median, count = _nanmedian_last(sliding_window_view(padded, window, axis=1)[:, : values.shape[1]])
    return np.where(count >= min_count, median, np.nan)


def _profile_cube(hourly: pd.DataFrame, codes: np.ndarray, first_day: int, days: int) -> np.ndarray:
    """kWh of the customers `codes` (a range) as a (customer, day, hour) cube; a repeated DST hour is
    summed."""
    code = hourly["code"].to_numpy()
    rows = (code >= codes[0]) & (code <= codes[-1])
    code = code[rows] - codes[0]
    day = hourly["day"].to_numpy()[rows] // DAY_NS - first_day
    flat = (code * days + day) * 24 + hourly["hour"].to_numpy()[rows]
    size = len(codes) * days * 24
    sums = np.bincount(flat, weights=hourly["kwh"].to_numpy()[rows], minlength=size)
    present = np.bincount(flat, minlength=size) > 0
    return np.where(present, sums, np.nan).reshape(len(codes), days, 24)


def _profile_chunk(cube: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    n, days, _ = cube.shape
    out = np.full((n, days), np.nan)
    for kind, window in ((~weekend, PROFILE_DAYS["workday"]), (weekend, PROFILE_DAYS["weekend"])):
        cols = np.flatnonzero(kind)
        if not len(cols):
            continue
        hours = cube[:, cols, :].transpose(0, 2, 1).reshape(n * 24, len(cols))
        usual = _trailing_median(hours, window, window // 2)
        with np.errstate(invalid="ignore"):
            ratio = np.log(
                (np.maximum(hours, 0.0) + PROFILE_FLOOR_KWH) / (np.maximum(usual, 0.0) + PROFILE_FLOOR_KWH)
            )
        stat, hours_seen = _nanmedian_last(ratio.reshape(n, 24, len(cols)).transpose(0, 2, 1))
        out[:, cols] = np.where(hours_seen >= PROFILE_MIN_HOURS, stat, np.nan)
    return out


def _profile_log_ratio(
    hourly: pd.DataFrame, n_customers: int, day_code: np.ndarray, day_index: np.ndarray
) -> np.ndarray:
    """Per (customer, day) row of the daily frame: the median over the day's hours of the log of each
    hour's kWh over that hour's median on the same kind of day (workday or weekend) before it."""
    result = np.full(len(day_code), np.nan)
    if not len(hourly):
        return result
    days_all = hourly["day"].to_numpy() // DAY_NS
    first, days = int(days_all.min()), int(days_all.max() - days_all.min()) + 1
    weekend = ((np.arange(first, first + days) + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    for start in range(0, n_customers, PROFILE_CHUNK):
        codes = np.arange(start, min(start + PROFILE_CHUNK, n_customers))
        stat = _profile_chunk(_profile_cube(hourly, codes, first, days), weekend)
        rows = (day_code >= codes[0]) & (day_code <= codes[-1])
        cols = day_index[rows] - first
        inside = (cols >= 0) & (cols < days)
        picked = np.full(int(rows.sum()), np.nan)
        picked[inside] = stat[day_code[rows][inside] - codes[0], cols[inside]]
        result[rows] = picked
    return result


def _with_degree_days(out: pd.DataFrame, temperatures: pd.DataFrame | None) -> pd.DataFrame:
    if temperatures is None:
        out["temperature_c"] = np.nan
        out["hdd"] = np.nan
        out["cdd"] = np.nan
        return out
    temps = temperatures.copy()
    temps["date"] = pd.to_datetime(temps["date"]).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    if "temp_f" not in temps.columns:
        if "temperature_c" not in temps.columns:
            raise ValueError("temperatures need a temp_f or a temperature_c column")
        temps["temp_f"] = temps["temperature_c"] * 1.8 + 32.0
    keys = ["customer_id", "date"] if "customer_id" in temps.columns else ["date"]
    temps = temps.groupby(keys)["temp_f"].mean().reset_index()
    out["date"] = out["date"].astype("datetime64[ns]")
    merged = out.merge(temps, on=keys, how="left")
    merged["temperature_c"] = (merged["temp_f"] - 32.0) / 1.8
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
    never exports, and export hours stay negative (which is what marks a solar household). An hour never
    seen in a half that has data counts as 0; a half without any day is NaN."""
    local = _localise(reads, time_zone)
    hourly = _hourly(local)
    n_customers = len(local.customers)
    # 1970-01-01 was a Thursday (Monday = 0).
    weekend = ((hourly["day"].to_numpy() // DAY_NS + 3) % 7) >= 5
    slot = hourly["code"].to_numpy() * 48 + weekend * 24 + hourly["hour"].to_numpy()
    counts = np.bincount(slot, minlength=n_customers * 48).reshape(n_customers, 2, 24)
    sums = np.bincount(slot, weights=hourly["kwh"].to_numpy(), minlength=n_customers * 48)
    sums = sums.reshape(n_customers, 2, 24)
    means = sums / np.maximum(counts, 1)
    scale = np.abs(means).sum(axis=2, keepdims=True)
    present = (counts.sum(axis=2, keepdims=True) > 0) & (scale > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shapes = np.where(present, means / scale, np.nan)
    return pd.DataFrame(
        shapes.reshape(n_customers, 48),
        index=pd.Index(local.customers, name="customer_id"),
        columns=HOUR_COLUMNS_WD + HOUR_COLUMNS_WE,
    )


def customer_temperatures(
    zone_temperatures: pd.DataFrame | None, zones: dict[str, str]
) -> pd.DataFrame | None:
    """daily_features' `temperatures` (customer_id, date, temp_f) from the zones' daily means
    (weather/queries.py daily_temperatures: time_zone, date, temperature_c); None without any."""
    if zone_temperatures is None or zone_temperatures.empty:
        return None
    owners = pd.DataFrame({"customer_id": list(zones), "time_zone": list(zones.values())})
    t = owners.merge(zone_temperatures, on="time_zone")
    return pd.DataFrame(
        {"customer_id": t["customer_id"], "date": t["date"], "temp_f": t["temperature_c"] * 1.8 + 32}
    )
