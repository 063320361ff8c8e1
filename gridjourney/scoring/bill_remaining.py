"""The days left in a billing cycle: their expected kWh, with a 10th-90th percentile range.

A day's use is split into a weather part (scoring/degree_days.py: the meter's own change-point fit
over its last WEATHER_DAYS days, when temperatures exist) and the rest. The rest is divided by a
day-type factor (weekends and public holidays against working days, from the last SHAPE_DAYS days,
shrunk towards 1 when there are few off days), and its level is an exponentially weighted mean with a
half-life of HALF_LIFE_DAYS: use drifts with the season and the household, so the last week says more
about the next two than the first days of the cycle do. The days ahead get that level times their
day-type factor, plus the weather part of their forecast temperature. Without a forecast for every
day ahead the projection is weather-free: carrying the last week's weather forward (persistence)
made it worse than leaving the weather out, on the LCL homes (6.89 % against 6.83 % kWh MAPE) and
on the simulation (8.4 % against 7.2 %), and it hid that error from the range.

The range comes from the meter's own history: on every earlier day, the same level is compared with
the use of the following days (as many as are left now); the 10th and 90th percentiles of that ratio
scale the projection. With too short a history for MIN_BACKTESTS such comparisons, the spread follows
from the day-to-day variation of the meter's use instead.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from gridjourney.scoring.degree_days import fit_balance_points, weather_share

HALF_LIFE_DAYS = 5.0
SHAPE_DAYS = 56
SHAPE_PRIOR_DAYS = 2.0  # off days' factor shrunk towards 1 as if this many off days were average
WEATHER_DAYS = 90
MIN_BACKTESTS = 28
WARM_UP_DAYS = 14  # a backtest starts once the level has this many days behind it
Z_90 = 1.2815516  # the standard normal's 90th percentile: the range is 10th-90th


@dataclass(frozen=True)
class RemainingUse:
    kwh: float
    low_kwh: float
    high_kwh: float
    weather_adjusted: bool
    range_basis: str  # "own history" (backtests) or "day-to-day variation"


def remaining_use(
    kwh: pd.Series,
    ahead: pd.DatetimeIndex,
    *,
    off_days: Collection[date] = (),
    temperature_c: pd.Series | None = None,
) -> RemainingUse:
    """`kwh`: daily kWh on a gap-free daily DatetimeIndex ending on the last day read (NaN where a day
    is missing); `ahead`: the days to project; `off_days`: public holidays; `temperature_c`: the days'
    mean temperature (°C) by date, possibly covering days ahead (a forecast)."""
    history = kwh.astype("float64")
    weather_past = np.zeros(len(history))
    weather_ahead = np.zeros(len(ahead))
    adjusted_by_weather = False
    forecast = None if temperature_c is None else temperature_c.reindex(ahead).astype("float64")
    if temperature_c is not None and forecast is not None and forecast.notna().all():
        past_t = temperature_c.reindex(history.index).astype("float64")
        fit = fit_balance_points(
            history.iloc[-WEATHER_DAYS:].to_numpy(), past_t.iloc[-WEATHER_DAYS:].to_numpy()
        )
        if fit.weather_dependent:
            weather_past = np.nan_to_num(weather_share(fit, past_t.to_numpy()))
            weather_ahead = weather_share(fit, forecast.to_numpy())
            adjusted_by_weather = True
    rest = history.to_numpy() - weather_past
    off_past = _is_off(history.index, off_days)
    factor_off = _off_factor(rest[-SHAPE_DAYS:], off_past[-SHAPE_DAYS:])
    base = pd.Series(rest / np.where(off_past, factor_off, 1.0), index=history.index)
    levels = base.ewm(halflife=HALF_LIFE_DAYS, ignore_na=True).mean()
    level = float(levels.iloc[-1])
    factors_ahead = np.where(_is_off(ahead, off_days), factor_off, 1.0)
    rest_ahead = level * float(factors_ahead.sum())
    projected = rest_ahead + float(weather_ahead.sum())
    low_ratio, high_ratio, basis = _spread(base, levels, len(ahead))
    return RemainingUse(
        kwh=projected,
        low_kwh=max(0.0, rest_ahead * low_ratio + float(weather_ahead.sum())),
        high_kwh=rest_ahead * high_ratio + float(weather_ahead.sum()),
        weather_adjusted=adjusted_by_weather,
        range_basis=basis,
    )


def _is_off(days: pd.Index, off_days: Collection[date]) -> np.ndarray:
    dates = pd.DatetimeIndex(days)
    weekend = np.asarray(dates.day_of_week >= 5)
    holiday = np.array([d.date() in off_days for d in dates], dtype=bool) if off_days else False
    return np.asarray(weekend | holiday, dtype=bool)


def _off_factor(rest: np.ndarray, off: np.ndarray) -> float:
    """Off days' use over working days', shrunk towards 1 (a few off days say little)."""
    ok = ~np.isnan(rest)
    on_mean = float(rest[ok & ~off].mean()) if (ok & ~off).any() else float("nan")
    if not on_mean > 0:
        return 1.0
    n_off = int((ok & off).sum())
    raw = float(rest[ok & off].sum()) / on_mean if n_off else 0.0
    return (raw + SHAPE_PRIOR_DAYS) / (n_off + SHAPE_PRIOR_DAYS)


def _spread(base: pd.Series, levels: pd.Series, horizon: int) -> tuple[float, float, str]:
    """(low, high) multipliers of the projected use, and what they come from."""
    values = base.to_numpy()
    ahead_sum = pd.Series(values[::-1]).rolling(horizon, min_periods=horizon).sum().to_numpy()[::-1]
    # ahead_sum[i] covers days i..i+horizon-1: the days after day t are ahead_sum[t + 1].
    actual = np.append(ahead_sum[1:], np.nan)
    predicted = levels.to_numpy() * horizon
    seen = np.arange(len(values)) >= WARM_UP_DAYS - 1
    ok = seen & ~np.isnan(actual) & (predicted > 0)
    if int(ok.sum()) >= MIN_BACKTESTS:
        # Centred on the median: a past trend (a season's change) tells the spread, not today's bias.
        # Overlapping windows are far from independent: the interval is a Student t one on the
        # number of disjoint windows, from the ratios' standard deviation.
        ratios = actual[ok] / predicted[ok]
        middle = float(np.median(ratios))
        windows = max(2, int(ok.sum()) // horizon)
        half_width = (
            _t_90(windows - 1) * float(np.std(ratios / middle, ddof=1)) * float(np.sqrt(1 + 1 / windows))
        )
        return max(0.0, 1 - half_width), 1 + half_width, "own history"
    known = values[~np.isnan(values)]
    mean = float(known.mean()) if len(known) else 0.0
    if len(known) < 2 or mean <= 0:
        return 1.0, 1.0, "day-to-day variation"
    cv = float(known.std(ddof=1)) / mean
    # Error of the level (about 2 * half-life / ln 2 effective days) plus the days' own variation.
    effective_days = 2 * HALF_LIFE_DAYS / np.log(2)
    t_80 = _t_90(len(known) - 1)
    half_width = t_80 * cv * float(np.sqrt(1 / horizon + 1 / min(len(known), effective_days)))
    return max(0.0, 1 - half_width), 1 + half_width, "day-to-day variation"


def _t_90(df: int) -> float:
    """Student t's 90th percentile with `df` degrees of freedom (Cornish-Fisher expansion around the
    normal's; within 1 % from 3 degrees of freedom up)."""
    z, v = Z_90, float(max(df, 1))
    return z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
