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
the use of the following days (as many as are left now), and the spread of those errors sets the
10th-90th percentile range. With too short a history for MIN_BACKTESTS such comparisons, the spread
follows from the day-to-day variation of the meter's use, widened by how long its ups and downs last
(the lag-1 autocorrelation), and never narrower than what its few backtests say.

The level itself is what it can be: at day 15 a home's next days are mostly its own noise, and even a
level known in hindsight (from the days around the rest of the cycle) beats "average so far x cycle
length" on only 61 % of the LCL cycles (scoring/bill_sample.py measures it). Other levels measured on
the LCL tuning half (longer half-lives, a linear trend, forecasts combined, one chosen per meter by
its own backtests) did no better on the held-out half and the Green Button sample together.
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
MAX_AUTOCORRELATION = 0.9  # a persistence factor of at most 19
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
    backtested = _backtest_half_width(actual[ok] / predicted[ok] - 1.0, horizon)
    if int(ok.sum()) >= MIN_BACKTESTS:
        return max(0.0, 1 - backtested), 1 + backtested, "own history"
    known = values[~np.isnan(values)]
    mean = float(known.mean()) if len(known) else 0.0
    if len(known) < 2 or mean <= 0:
        return max(0.0, 1 - backtested), 1 + backtested, "day-to-day variation"
    cv = float(known.std(ddof=1)) / mean
    # Error of the level (about 2 * half-life / ln 2 effective days) plus the days' own variation.
    # A home's days are not independent (a cold spell, a guest, a holiday last several days): with
    # a lag-1 autocorrelation rho, the variance of a mean of many days grows by (1 + rho) / (1 - rho).
    # The few backtests a short history has catch the drift that this misses (a season's change).
    # Without either, the range held 47-63 % of the cycles it should hold 80 % of (simulation, LCL).
    effective_days = 2 * HALF_LIFE_DAYS / np.log(2)
    rho = _lag_one_autocorrelation(values)
    persistence = (1 + rho) / (1 - rho)
    variation = (1 / horizon + 1 / min(len(known), effective_days)) * persistence
    half_width = max(_t_90(len(known) - 1) * cv * float(np.sqrt(variation)), backtested)
    return max(0.0, 1 - half_width), 1 + half_width, "day-to-day variation"


def _backtest_half_width(errors: np.ndarray, horizon: int) -> float:
    """Half the 10-90 % range from the projection's relative errors on earlier days (0 without any).
    The errors are measured from the truth, not from their median: a trend the level lags behind (a
    season's change) is an error the range must hold (centred on the median, the range held 66 % of
    the Green Button sample's cycles; this, 73 %). Overlapping windows are far from independent: the
    interval is a Student t one on the number of disjoint windows."""
    if len(errors) == 0:
        return 0.0
    windows = max(2, len(errors) // horizon)
    spread = float(np.sqrt(np.mean(errors**2)))
    return _t_90(windows - 1) * spread * float(np.sqrt(1 + 1 / windows))


def _lag_one_autocorrelation(values: np.ndarray) -> float:
    """Between consecutive days both read, in [0, MAX_AUTOCORRELATION]; 0 with fewer than 7 pairs."""
    now, before = values[1:], values[:-1]
    pairs = ~np.isnan(now) & ~np.isnan(before)
    if int(pairs.sum()) < 7 or float(np.std(now[pairs])) == 0 or float(np.std(before[pairs])) == 0:
        return 0.0
    rho = float(np.corrcoef(now[pairs], before[pairs])[0, 1])
    return min(max(rho, 0.0), MAX_AUTOCORRELATION)


def _t_90(df: int) -> float:
    """Student t's 90th percentile with `df` degrees of freedom (Cornish-Fisher expansion around the
    normal's; within 1 % from 3 degrees of freedom up)."""
    z, v = Z_90, float(max(df, 1))
    return z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
