"""Each meter's expected log use of a day from its own recent history: a small robust regression,
refitted for every day on the days before it.

    log kwh(d) - log weather(d) = level + workday_gap * [d is no workday] + residual

`weather(d)` is the day's expected kWh under the meter's degree-day model (1 for a meter that does
not follow the weather), so the regression sees use with the weather taken out, in log terms: a cold
day raises a heated home's use by a share of its level, not by a fixed amount. The regression is fitted
by weighted least squares on the FIT_DAYS days before the window being judged, the days weighted by
recency (half-life HALF_LIFE_DAYS: the home's recent level counts most) and by a Huber weight of
their residual, so earlier anomalies and vacancies in the history do not bend it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Matrix = npt.NDArray[np.float64]

FIT_DAYS = 56
HALF_LIFE_DAYS = 14.0
HUBER_K = 1.5  # residuals beyond this many robust spreads get a weight of k / |residual|
HUBER_ROUNDS = 2
MIN_SPREAD = 0.02  # a log spread below this is taken as this: a steady home's days are not all exact
GAP_PRIOR_DAYS = 0.5  # the workday gap is shrunk toward 0 as if half a recent day had shown none
MIN_FIT_DAYS = 10
LOG_FLOOR_KWH = 0.05
WINDOW_CELLS = 4_000_000  # meters per batch so that each (meters x days x FIT_DAYS) array stays ~32 MB


def _windows(values: Matrix) -> Matrix:
    """For each day, the FIT_DAYS days before it (oldest first), NaN-padded at the start."""
    padded = np.concatenate([np.full((values.shape[0], FIT_DAYS), np.nan), values[:, :-1]], axis=1)
    return sliding_window_view(padded, FIT_DAYS, axis=1)[:, : values.shape[1]]


def _solve(y: Matrix, off: Matrix, w: Matrix) -> tuple[Matrix, Matrix, Matrix]:
    """Weighted fit of y = level + gap * off per window: (level, gap, weight sum)."""
    s0 = w.sum(axis=2)
    s1 = (w * off).sum(axis=2)
    sy = (w * y).sum(axis=2)
    s1y = (w * off * y).sum(axis=2)
    # off is 0/1, so sum(w off^2) = s1; the prior adds GAP_PRIOR_DAYS of gap 0.
    s11 = s1 + GAP_PRIOR_DAYS
    det = s0 * s11 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        level = (s11 * sy - s1 * s1y) / det
        gap = (s0 * s1y - s1 * sy) / det
    return level, gap, s0


def fit_expectation(
    log_use: Matrix, off_day: npt.NDArray[np.bool_]
) -> tuple[Matrix, Matrix, npt.NDArray[np.int64]]:
    """(level, workday gap, days in the fit) per meter-day, from the FIT_DAYS days before each day.
    `log_use` is the weather-adjusted log use, NaN on days to leave out."""
    level = np.full(log_use.shape, np.nan)
    gap = np.full(log_use.shape, np.nan)
    days = np.zeros(log_use.shape, dtype=np.int64)
    decay = 0.5 ** (np.arange(FIT_DAYS, 0, -1, dtype=np.float64) / HALF_LIFE_DAYS)
    off_all = np.broadcast_to(off_day, log_use.shape).astype(np.float64)
    chunk = max(1, WINDOW_CELLS // max(1, log_use.shape[1] * FIT_DAYS))
    for start in range(0, log_use.shape[0], chunk):
        rows = slice(start, start + chunk)
        y = _windows(log_use[rows])
        off = _windows(off_all[rows])
        present = ~np.isnan(y)
        y0 = np.where(present, y, 0.0)
        off0 = np.where(present, off, 0.0)
        base_w = np.where(present, decay, 0.0)
        w = base_w
        lv, gp, _ = _solve(y0, off0, w)
        for _ in range(HUBER_ROUNDS):
            resid = np.abs(y0 - lv[..., None] - gp[..., None] * off0)
            # The spread per window without a sort: the weighted mean absolute residual. (A median
            # start and spread resisted a planted outlier week better, but measured no better on the
            # LCL tuning half.)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = 1.25 * (base_w * resid).sum(axis=2) / base_w.sum(axis=2)
                limit = HUBER_K * np.maximum(scale, MIN_SPREAD)[..., None]
                w = base_w * np.where(resid > limit, limit / resid, 1.0)
            lv, gp, _ = _solve(y0, off0, w)
        n = present.sum(axis=2)
        ok = n >= MIN_FIT_DAYS
        level[rows] = np.where(ok, lv, np.nan)
        gap[rows] = np.where(ok, gp, np.nan)
        days[rows] = n
    return level, gap, days


def log_use(kwh: Matrix, weather_kwh: Matrix) -> Matrix:
    """log of the day's use over its weather expectation (NaN where either is missing)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.maximum(kwh, LOG_FLOOR_KWH)) - np.log(np.maximum(weather_kwh, LOG_FLOOR_KWH))


def lagged(values: Matrix, lag: int, fill: float = np.nan) -> Matrix:
    """Each day's value `lag` days before (`fill` before the first day)."""
    head = np.full((values.shape[0], lag), fill)
    return np.concatenate([head, values[:, : values.shape[1] - lag]], axis=1)


def window_residuals(
    log_adj: Matrix, off_day: npt.NDArray[np.bool_], level: Matrix, gap: Matrix, days: int
) -> list[Matrix]:
    """For each day t, the residuals of days t-j (j = 0..days-1) against the fit made before the
    window's first day t-(days-1): no day of the window is in its own expectation, so a raised week
    cannot lift the expectation of its own later days."""
    off = np.broadcast_to(off_day, log_adj.shape).astype(np.float64)
    window_level = lagged(level, days - 1)
    window_gap = lagged(gap, days - 1)
    return [lagged(log_adj, j) - window_level - window_gap * lagged(off, j, 0.0) for j in range(days)]
