"""Per meter-day anomaly signals relative to the meter's own weather-adjusted baseline, each also
expressed in units of its spread over the meter's own history (what gridjourney/scoring/anomaly.py
thresholds).

- The weather: each meter's change-point model (gridjourney/scoring/degree_days.py) gives the part of
  a day's kWh its temperature explains; it is taken off the day's use (and, spread evenly over the
  hours, off the overnight base) before anything is compared. No temperatures, or a meter that does
  not follow them: nothing is taken off (the weather-free form).
- No use: a whole day with reads but (almost) no use, or one flat reading all day. Such days are left
  out of every baseline, so a vacancy neither hides later changes nor makes the return look like one.
- A whole day's rise: the least of the log rises of the day's total, its hours (the median of each
  hour against that hour's usual) and its night (hours 1-4), averaged over the best 4 of the last 5
  days. A +50 % week lifts all three; guests or a busy evening lift the total alone, and a multi-day
  mean stands out where single days swing. The total is judged against a regression expectation
  (gridjourney/scoring/anomaly_expectation.py: the home's recent level, its weekend gap and the
  day's weather) fitted on the days before the 5 being judged, so none of them is in its own
  expectation.
- Other baselines: the trailing 28-day median, workdays against workdays and weekends/holidays
  against weekends; the day itself is never in its own baseline.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.metering.holidays import holidays_between
from gridjourney.scoring import anomaly_expectation as expectation
from gridjourney.scoring.baselines import DailyMatrix, Matrix, to_matrix, trailing
from gridjourney.scoring.degree_days import MIN_DAYS, expected_kwh, fit_balance_points

BASELINE_DAYS = 28
CALIBRATION_DAYS = 90  # the history each meter's own spread of a signal is measured over
MIN_HISTORY_DAYS = 14
NO_USE_SHARE = 0.05  # a day whose highest hour is under 5 % of the usual highest hour is "no use"
NO_USE_KW = 0.02  # ... or under 20 W
USED_KWH = 0.5  # a meter whose usual day is below this is not "in use" to begin with
MIN_FLAT_HOURS = 20  # a flat line needs most of the day's hours
SOURCE_COLUMNS = (
    "kwh",
    "baseload_kwh",
    "peak_kw",
    "peak_hour",
    "median_hour_kwh",
    "profile_log_ratio",
    "temperature_c",
    "distinct_hours",
    "hours",
)
# A change of the whole day is judged on this many days, less the lowest of them: one day of a raised
# week that a home spends out, or whose night is low anyway, no longer drags the week under the floor
# (the signal keeps its name level_4d for detectors saved before).
LEVEL_DAYS = 5
CALIBRATED: tuple[str, ...] = ("level_4d", "baseload_dev", "peak_dev", "shift_3d")
# The whole day's rise is a log ratio, bounded so that one empty or extreme day cannot dominate the
# mean of LEVEL_DAYS (a day at a fifth or five times its usual use says enough).
WHOLE_DAY_BOUNDS = (0.2, 5.0)
QUIET_HOUR_KWH = 0.03  # a usual median hour below 30 Wh: most hours are off
SPREAD_FLOORS = {"level_4d": 0.05, "baseload_dev": 0.03, "peak_dev": 0.2, "shift_3d": 0.5}


@dataclass(frozen=True)
class Signals:
    daily: DailyMatrix
    medians: dict[str, Matrix]  # each source column's baseline
    # level, mid, base, whole_day, level_4d, extra_kwh, baseload_dev, peak_dev, shift_3d
    raw: dict[str, Matrix]
    z: dict[str, Matrix]  # the CALIBRATED signals over each meter's own spread
    scorable: npt.NDArray[np.bool_]
    no_use: npt.NDArray[np.bool_]
    history: npt.NDArray[np.int64]  # days in each day's baseline window
    expected: Matrix  # the day's expected kWh: baseline plus the weather's share
    weather_fitted: npt.NDArray[np.bool_]  # per meter: a weather model with a slope


def _matrix(daily: pd.DataFrame, excluded: pd.DataFrame | None) -> DailyMatrix:
    present = [c for c in SOURCE_COLUMNS if c in daily.columns]
    m = to_matrix(daily, present, excluded=excluded)
    values = dict(m.values)
    for name in SOURCE_COLUMNS:
        values.setdefault(name, np.full(m.shape, np.nan))
    return DailyMatrix(m.customers, m.dates, values)


def _by_day_kind(values: Matrix, workday: npt.NDArray[np.bool_]) -> Matrix:
    """Trailing median, workdays from workdays and other days from other days: a shop closed on
    Sundays is not an anomaly."""
    out = np.full(values.shape, np.nan)
    for kind in (workday, ~workday):
        med, _ = trailing(np.where(kind, values, np.nan), BASELINE_DAYS, "median")
        out = np.where(kind, med, out)
    return out


def _mean(values: Matrix, days: int) -> Matrix:
    """The mean of each day and the days-1 before it (over those with values)."""
    padded = np.concatenate([np.full((values.shape[0], days - 1), np.nan), values], axis=1)
    width = values.shape[1]
    stacked = np.stack([padded[:, days - 1 - i : days - 1 - i + width] for i in range(days)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmean(stacked, axis=0)
    return np.where(np.isnan(values), np.nan, out)


def _mean_but_lowest(stacked: npt.NDArray[np.float64]) -> Matrix:
    """The mean over the first axis (over values that are not NaN), the lowest left out when at least
    2 have values; NaN where none has."""
    count = (~np.isnan(stacked)).sum(axis=0)
    total = np.nansum(stacked, axis=0)
    lowest = np.min(np.where(np.isnan(stacked), np.inf, stacked), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count >= 2, (total - lowest) / (count - 1), total / np.maximum(count, 1))
    return np.where(count == 0, np.nan, out)


def _weather(m: DailyMatrix, kwh: Matrix) -> tuple[Matrix, npt.NDArray[np.bool_], Matrix]:
    """Per meter-day, the kWh the day's temperature explains under the meter's own model, and the
    day's whole expected kWh under it (1 for a meter that does not follow the weather)."""
    temps = m["temperature_c"]
    share = np.zeros(m.shape)
    whole = np.ones(m.shape)
    fitted = np.zeros(m.shape[0], dtype=bool)
    for r in range(m.shape[0]):
        t = temps[r]
        if int((~np.isnan(t) & ~np.isnan(kwh[r])).sum()) < MIN_DAYS:
            continue
        fit = fit_balance_points(kwh[r], t)
        if fit.weather_dependent:
            fitted[r] = True
            # A day without a temperature gets no weather share: its expectation is the base.
            share[r] = np.nan_to_num(expected_kwh(fit, t) - fit.base_kwh, nan=0.0)
            whole[r] = fit.base_kwh + share[r]
    return share, fitted, whole


def _window_rise(
    clean: Matrix, weather_kwh: Matrix, workday_row: npt.NDArray[np.bool_], mid: Matrix, base: Matrix
) -> Matrix:
    """The whole day's rise over the LEVEL_DAYS days ending at each day, the lowest day left out:
    each day's least of three log rises, its total against the regression expectation fitted
    before the window began, its hours and its night. (The night against its usual before the
    window began, too, measured more false alerts: its trailing median is steady enough.)"""
    log_adj = expectation.log_use(clean, weather_kwh)
    off_day = ~workday_row
    level, gap, _ = expectation.fit_expectation(log_adj, off_day)
    totals = expectation.window_residuals(log_adj, off_day, level, gap, LEVEL_DAYS)
    with np.errstate(invalid="ignore"):
        others = np.log(np.clip(1.0 + np.fmin(mid, base), *WHOLE_DAY_BOUNDS))
    lo, hi = np.log(WHOLE_DAY_BOUNDS[0]), np.log(WHOLE_DAY_BOUNDS[1])
    # The day j days before the window's end: the least of its three rises (fmin: a day without
    # night or hour figures is judged on the rest), no figure at all without a total.
    stacked = [
        np.where(np.isnan(total), np.nan, np.clip(np.fmin(total, expectation.lagged(others, j)), lo, hi))
        for j, total in enumerate(totals)
    ]
    rise = _mean_but_lowest(np.stack(stacked))
    return np.where(np.isnan(clean), np.nan, rise)


def _calibrated(values: Matrix, floor: float) -> Matrix:
    center, count = trailing(values, CALIBRATION_DAYS, "median")
    mad, _ = trailing(values, CALIBRATION_DAYS, "mad")
    spread = np.maximum(1.4826 * mad, floor)
    return np.where(count >= MIN_HISTORY_DAYS, (values - center) / spread, np.nan)


def signals_of(daily: pd.DataFrame, *, excluded: pd.DataFrame | None = None) -> Signals:
    m = _matrix(daily, excluded)
    holidays = holidays_between(m.dates[0].date(), m.dates[-1].date()) if len(m.dates) else set()
    workday_row = np.array([d.weekday() < 5 and d.date() not in holidays for d in m.dates], dtype=bool)
    workday = np.broadcast_to(workday_row, m.shape)
    kwh = m["kwh"]
    usual, _ = trailing(kwh, BASELINE_DAYS, "median")
    usual_peak, _ = trailing(m["peak_kw"], BASELINE_DAYS, "median")
    with np.errstate(invalid="ignore"):
        # No hour of the day above a trickle (net export of a solar home is use, not its absence).
        low = m["peak_kw"] <= np.maximum(NO_USE_SHARE * np.nan_to_num(usual_peak, nan=0.0), NO_USE_KW)
        flat = (m["distinct_hours"] == 1) & (m["hours"] >= MIN_FLAT_HOURS)
    no_use = (low | flat) & ~np.isnan(kwh)
    # Only meters that normally use something: a day at zero in an empty flat is not news.
    no_use_alert = no_use & (np.nan_to_num(usual, nan=0.0) > USED_KWH)
    clean = np.where(no_use, np.nan, kwh)
    share, fitted, weather_kwh = _weather(m, clean)
    adj = clean - share
    base_adj = np.where(no_use, np.nan, m["baseload_kwh"]) - share / 24.0
    peak = np.where(no_use, np.nan, m["peak_kw"])
    mid_adj = np.where(no_use, np.nan, m["median_hour_kwh"]) - share / 24.0
    med_mid = _by_day_kind(mid_adj, workday)
    med_kwh = _by_day_kind(adj, workday)
    med_base = _by_day_kind(base_adj, workday)
    night = np.where(no_use, np.nan, m["baseload_kwh"])
    med_night = _by_day_kind(night, workday)
    med_peak = _by_day_kind(peak, workday)
    hour = np.where(no_use, np.nan, m["peak_hour"])
    med_hour, _ = trailing(hour, BASELINE_DAYS, "median")
    _, history = trailing(clean, BASELINE_DAYS, "mean")
    with np.errstate(invalid="ignore", divide="ignore"):
        # Against the day's whole expected use (baseline plus the weather's share): an error of the
        # weather model is then a share of the day, not of a small base that heating dwarfs.
        level = clean / np.maximum(med_kwh + share, 0.5) - 1.0
        mid = (mid_adj + share / 24.0) / np.maximum(med_mid + share / 24.0, 0.02) - 1.0
        # The night against the nights before, as read: heating does not spread its kWh evenly over
        # the hours, so the weather's share is not taken off the night.
        base = night / np.maximum(med_night, 0.02) - 1.0
        # A whole day up lifts its total, its median hour and its night alike; guests or a busy
        # evening lift the first but seldom the night. The least of the three rises is the day's rise
        # (fmin: a day without night reads is judged on the other two).
        # Each hour against that hour's usual (gridjourney/metering/features.py profile_log_ratio):
        # x1.5 lifts every hour alike, so their median says it more steadily than the day's median
        # hour against earlier median hours, which moves with the day's shape. Without it (too few
        # days of hourly reads), the median hour.
        mid = np.where(np.isnan(m["profile_log_ratio"]), mid, np.expm1(m["profile_log_ratio"]))
        # A home whose usual median hour is near nothing (a fridge cycling, most hours off): the
        # median hour stays near zero however the day scales, so its hours say nothing of a rise,
        # and the day is judged on its total and its night (fmin: without the hours).
        mid = np.where(med_mid < QUIET_HOUR_KWH, np.nan, mid)
        whole_day = np.log(np.clip(1.0 + np.fmin(np.fmin(level, mid), base), *WHOLE_DAY_BOUNDS))
    raw = {
        "level": level,
        "mid": mid,
        "base": base,
        "whole_day": whole_day,
        # A sustained change: the mean of the whole day's rise over LEVEL_DAYS days but the lowest, so
        # that a +50 % week stands out of a home whose single days swing by as much.
        "level_4d": _window_rise(clean, weather_kwh, workday_row, mid, base),
        "extra_kwh": adj - med_kwh,
        "baseload_dev": base_adj - med_base,
        "peak_dev": peak - med_peak,
        "shift_3d": _mean(np.abs((hour - med_hour + 12.0) % 24.0 - 12.0), 3),
    }
    z = {name: _calibrated(raw[name], SPREAD_FLOORS[name]) for name in CALIBRATED}
    scorable = (history >= MIN_HISTORY_DAYS) & ~np.isnan(z["level_4d"]) & ~no_use
    return Signals(
        daily=m,
        medians={
            "kwh": _by_day_kind(clean, workday),
            "baseload_kwh": med_night,
            "peak_kw": med_peak,
            "peak_hour": med_hour,
        },
        raw=raw,
        z=z,
        scorable=scorable,
        no_use=no_use_alert,
        history=history,
        expected=med_kwh + share,
        weather_fitted=fitted,
    )
