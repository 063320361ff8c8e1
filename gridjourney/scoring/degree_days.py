"""Degree-days and a per-meter change-point model of daily use against the day's mean temperature.

The model is the usual three-to-five parameter change-point ("PRISM"-style) regression:

    kwh = base + heating_slope * max(heating_balance - t, 0) + cooling_slope * max(t - cooling_balance, 0)

with temperatures in °C. Balance points are found by a grid search; for each pair the slopes and the
base come from least squares, and a candidate with a negative slope is dropped (a home does not use
less when it is colder below its heating balance point). The richer model is kept only when it
lowers the BIC, so a meter that does not follow the weather gets zero slopes. Days of almost no use
are left out, and one round of trimming the largest residuals keeps a vacancy or a fault in the
history from bending the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

HEATING_GRID_C: tuple[float, ...] = tuple(float(t) for t in np.arange(8.0, 20.5, 0.5))
COOLING_GRID_C: tuple[float, ...] = tuple(float(t) for t in np.arange(16.0, 28.5, 0.5))
MIN_DAYS = 14  # fewer days than this: no weather terms at all
MIN_TERM_DAYS = 7  # days with degree-days > 0 a term needs before it is considered
NO_USE_SHARE = 0.1  # days under this share of the median day are left out of the fit
TRIM_MADS = 4.0  # residuals beyond this many robust standard deviations are left out of the refit


@dataclass(frozen=True)
class DegreeDayFit:
    """A meter's daily kWh as a function of the day's mean temperature (°C)."""

    base_kwh: float
    heating_balance_c: float | None  # None: use does not rise when it is colder
    heating_slope: float  # kWh per heating degree-day (°C·day)
    cooling_balance_c: float | None  # None: use does not rise when it is warmer
    cooling_slope: float  # kWh per cooling degree-day
    days: int  # days the fit used (after trimming)

    @property
    def weather_dependent(self) -> bool:
        return self.heating_slope > 0 or self.cooling_slope > 0


NO_WEATHER = DegreeDayFit(0.0, None, 0.0, None, 0.0, 0)


def heating_degree_days(tmean_c: npt.ArrayLike, balance_c: float) -> Floats:
    """max(balance - t, 0) per day; NaN stays NaN."""
    t = np.asarray(tmean_c, dtype=np.float64)
    return np.where(np.isnan(t), np.nan, np.maximum(balance_c - t, 0.0))


def cooling_degree_days(tmean_c: npt.ArrayLike, balance_c: float) -> Floats:
    """max(t - balance, 0) per day; NaN stays NaN."""
    t = np.asarray(tmean_c, dtype=np.float64)
    return np.where(np.isnan(t), np.nan, np.maximum(t - balance_c, 0.0))


def _candidates(t: Floats) -> tuple[Floats, Floats]:
    """Heating and cooling balance points of every candidate model; NaN: the model has no such term.
    A term needs MIN_TERM_DAYS days past its balance point to be considered."""
    heats = [h for h in HEATING_GRID_C if int((t < h).sum()) >= MIN_TERM_DAYS]
    cools = [c for c in COOLING_GRID_C if int((t > c).sum()) >= MIN_TERM_DAYS]
    nan = float("nan")
    pairs = [(nan, nan)] + [(h, nan) for h in heats] + [(nan, c) for c in cools]
    pairs += [(h, c) for h in heats for c in cools if c >= h]
    both = np.array(pairs, dtype=np.float64)
    return both[:, 0], both[:, 1]


def _best(y: Floats, t: Floats) -> tuple[DegreeDayFit, Floats]:
    """The candidate with the lowest BIC among those with positive slopes, and its residuals. All
    candidates are solved at once through their normal equations (at most three columns each)."""
    n = len(y)
    heating, cooling = _candidates(t)
    has_h, has_c = ~np.isnan(heating), ~np.isnan(cooling)
    x = np.empty((len(heating), n, 3))
    x[:, :, 0] = 1.0
    x[:, :, 1] = np.where(has_h[:, None], np.maximum(np.nan_to_num(heating)[:, None] - t[None, :], 0.0), 0.0)
    x[:, :, 2] = np.where(has_c[:, None], np.maximum(t[None, :] - np.nan_to_num(cooling)[:, None], 0.0), 0.0)
    xt = x.transpose(0, 2, 1)
    xtx = xt @ x
    xty = xt @ y
    # A missing term: its column is zero, so pin its coefficient to 0 with a unit diagonal.
    xtx[:, 1, 1] += ~has_h
    xtx[:, 2, 2] += ~has_c
    coef = np.linalg.solve(xtx, xty[:, :, None])[:, :, 0]
    residuals = y[None, :] - (x @ coef[:, :, None])[:, :, 0]
    sse = np.maximum((residuals**2).sum(axis=1), 1e-12 * n)
    k = 1 + has_h + has_c
    bic = n * np.log(sse / n) + k * np.log(n)
    valid = (~has_h | (coef[:, 1] > 0)) & (~has_c | (coef[:, 2] > 0))
    best = int(np.argmin(np.where(valid, bic, np.inf)))  # candidate 0 (no terms) is always valid
    fit = DegreeDayFit(
        base_kwh=float(coef[best, 0]),
        heating_balance_c=float(heating[best]) if has_h[best] else None,
        heating_slope=float(coef[best, 1]) if has_h[best] else 0.0,
        cooling_balance_c=float(cooling[best]) if has_c[best] else None,
        cooling_slope=float(coef[best, 2]) if has_c[best] else 0.0,
        days=n,
    )
    return fit, residuals[best]


def fit_balance_points(kwh: npt.ArrayLike, tmean_c: npt.ArrayLike) -> DegreeDayFit:
    """Fit one meter's change-point model from its daily kWh and the days' mean temperatures (°C).

    Days where either value is missing, and days of almost no use, are left out. With fewer than
    MIN_DAYS days, or no weather dependence the data can support, the slopes are zero and `base_kwh` is
    the median day."""
    y_all = np.asarray(kwh, dtype=np.float64)
    t_all = np.asarray(tmean_c, dtype=np.float64)
    if y_all.shape != t_all.shape:
        raise ValueError(f"kwh has {y_all.shape} values, temperatures {t_all.shape}")
    ok = ~np.isnan(y_all) & ~np.isnan(t_all)
    if ok.any():
        # Days of (almost) no use are a vacancy or a fault, not the home's response to the weather.
        ok &= y_all > NO_USE_SHARE * float(np.median(y_all[ok]))
    y, t = y_all[ok], t_all[ok]
    if len(y) < MIN_DAYS:
        base = float(np.median(y)) if len(y) else 0.0
        return DegreeDayFit(base, None, 0.0, None, 0.0, len(y))
    fit, residuals = _best(y, t)
    scale = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    keep = np.abs(residuals) <= TRIM_MADS * scale if scale > 0 else np.ones(len(y), dtype=bool)
    if MIN_DAYS <= int(keep.sum()) < len(y):
        fit, _ = _best(y[keep], t[keep])
    if not fit.weather_dependent:
        kept = y[keep] if int(keep.sum()) else y
        fit = DegreeDayFit(float(np.median(kept)), None, 0.0, None, 0.0, len(kept))
    return fit


def expected_kwh(fit: DegreeDayFit, tmean_c: npt.ArrayLike) -> Floats:
    """Each day's expected kWh under the fit; a day without a temperature gets the base alone when the
    fit has no weather terms, else NaN (its expectation is unknown)."""
    t = np.asarray(tmean_c, dtype=np.float64)
    out = np.full(t.shape, fit.base_kwh, dtype=np.float64)
    if fit.heating_balance_c is not None:
        out = out + fit.heating_slope * heating_degree_days(t, fit.heating_balance_c)
    if fit.cooling_balance_c is not None:
        out = out + fit.cooling_slope * cooling_degree_days(t, fit.cooling_balance_c)
    return out


def weather_share(fit: DegreeDayFit, tmean_c: npt.ArrayLike) -> Floats:
    """The part of each day's expected kWh that the weather explains (0 without weather terms)."""
    return expected_kwh(fit, tmean_c) - fit.base_kwh
