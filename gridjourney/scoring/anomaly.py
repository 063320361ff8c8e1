"""Meter anomalies a utility would send: each day's use against the meter's own weather-adjusted
baseline, with thresholds calibrated from that meter's own history, beside the rule utilities use
(daily use >= 50 % above the 30-day mean, 3 days running).

Signals (gridjourney/scoring/anomaly_signals.py) are computed per meter-day relative to the meter's
trailing baseline, after removing the part of the day's use its own degree-day model explains
(gridjourney/scoring/degree_days.py). Each signal is then measured in units of its spread over the
meter's own history, so a meter that swings a lot needs a larger change than a steady one. The
multipliers of those spreads are what `fit_detector` learns, from simulation: the quantile of each
calibrated signal on simulated days.

Types: `no_use` (a whole day of no use or a flat, stuck reading: no use or a possible meter fault),
`added_baseload` (the increase sits in the overnight base), `spike` (a few hours far above the usual
peak, the rest of the day as usual), `step_increase` (the whole day up: its total, its median hour and
its night, over 5 days), `shifted_peak` (the daily peak moved by hours).

Alerts: at most one per customer, type and billing period; days of known outages or DR events are
never scored (pass them as `excluded`). A meter with too little history gets no score and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.scoring.anomaly_signals import (
    CALIBRATED,
    LEVEL_DAYS,
    MIN_HISTORY_DAYS,
    Signals,
    signals_of,
)
from gridjourney.scoring.baselines import Matrix, to_matrix, trailing

__all__ = [
    "MIN_HISTORY_DAYS",
    "AnomalyDetector",
    "Detection",
    "detect",
    "fit_detector",
    "rule_detect",
    "rule_flags",
    "to_matrix",
]

RULE_WINDOW_DAYS = 30
RULE_FACTOR = 1.5
RULE_RUN_DAYS = 3
FEATURES: tuple[str, ...] = CALIBRATED

# Physical floors: below these a change is not worth a customer's attention, whatever the statistics.
MIN_LEVEL = 0.165  # the whole day's rise over 5 days: a log ratio of at least 0.165 (about +18 %)
SPIKE_DAY_RISE = 0.1  # a day whose night and median hour rose too (log ratio) is no few-hour spike
MIN_BASELOAD_KW = 0.25  # overnight use up by at least 250 W
MIN_SPIKE_KW = 2.0  # an hour at least 2 kW above the usual peak ...
# ... that adds at least 6 kWh to the day (an oven or a shower does not). At 4 kWh, spikes took 14 of
# the 102 false alerts on the LCL homes; at 6, 8 (a planted +3 kW for 3 hours adds about 9 kWh).
MIN_SPIKE_KWH = 6.0
MIN_SHIFT_HOURS = 3.0
EPISODE_DAYS = 14  # alerts this close after a customer's last one belong to the same episode
SHIFT_RUN_DAYS = 3  # a peak hour wanders from day to day: only a moved habit lasts
BASELOAD_SHARE = 0.7  # the overnight rise explains at least 70 % of the day's extra kWh: added baseload
NIGHT_RISE_KW = 0.75  # a whole-day rise with its extra kWh in a night raised this much: added baseload
# ... the raised night explaining between 0.6 and 1/0.6 of the day's extra kWh: a +1 kW week on a cold
# day or a busy evening puts 0.6-0.7 or 1.4-1.7 of its extra kWh in the night (0.7-1.4 typed 6-8 % of
# them step_increase on the LCL homes; 0.5-2 typed more +50 % weeks of the simulation added baseload).
NIGHT_RISE_SHARE = 0.6
# A peak hour wanders on real homes and on simulated ones alike: at the learnt quantile, most
# shifted_peak alerts were false (precision 0.5-0.65, recall 0.11-0.13 of planted shifts), and they
# took a sixth of the false-alert budget. The shift must beat twice its learnt multiplier.
SHIFT_STRICTNESS = 2.0
DEFAULT_MULTIPLIERS = {"level_4d": 1.25, "baseload_dev": 4.5, "peak_dev": 5.7, "shift_3d": 7.7}
# The level is a 5-day mean of the whole day's least rise (total, hours and night) with a
# physical floor, so a common quantile will do; one-day signals need rarer values first. The level's
# two gates trade against each other: its quantile 0.875 (a multiplier of 1.22-1.26) with a floor of
# 0.165 found 0.02 more of the planted +50 % weeks on the LCL homes (seeds 0 and 1) than a multiplier
# of 1.45 with 0.16, for 0.005 more false alerts (0.18 per meter-month): a home's own spread says less
# of a week than the physical size of its rise.
QUANTILES = {"level_4d": 0.875, "baseload_dev": 0.99, "peak_dev": 0.995, "shift_3d": 0.995}


@dataclass
class AnomalyDetector:
    """Per-signal multipliers of each meter's own spread, learnt from simulated meter-days
    (DEFAULT_MULTIPLIERS: what simulations gave, for a population without data)."""

    multipliers: dict[str, float]
    quantiles: dict[str, float]
    trained_days: int
    features: tuple[str, ...] = FEATURES


def fit_detector(daily: pd.DataFrame, *, seed: int = 0) -> AnomalyDetector:
    """Learn each signal's multiplier from the days of a (simulated) population: the QUANTILES share
    of its calibrated values stays below it. `seed` is kept for the registry's parameters: the fit is
    deterministic."""
    sig = signals_of(daily)
    days = int(sig.scorable.sum())
    if days < 50:
        raise ValueError(f"only {days} scorable meter-days; at least 50 are needed to fit")
    multipliers = {}
    for name in CALIBRATED:
        z = sig.z[name][sig.scorable]
        z = z[np.isfinite(z)]
        learnt = float(np.quantile(z, QUANTILES[name])) if len(z) else DEFAULT_MULTIPLIERS[name]
        multipliers[name] = round(learnt, 3)
    return AnomalyDetector(multipliers=multipliers, quantiles=dict(QUANTILES), trained_days=days)


@dataclass(frozen=True)
class Detection:
    alerts: pd.DataFrame  # customer_id, anomaly_type, alert_date, first_date, days, score, description
    skipped: pd.DataFrame  # customer_id, reason
    weather: bool = False  # whether a weather model was fitted for at least one meter


ALERT_COLUMNS = ["customer_id", "anomaly_type", "alert_date", "first_date", "days", "score", "description"]


def _skipped(sig: Signals) -> pd.DataFrame:
    history = sig.history
    most = history.max(axis=1) if history.size else np.zeros(len(sig.daily.customers), dtype=np.int64)
    short = most < MIN_HISTORY_DAYS
    return pd.DataFrame(
        {
            "customer_id": sig.daily.customers[short],
            "reason": [f"{n} days of history; {MIN_HISTORY_DAYS} needed for a baseline" for n in most[short]],
        }
    )


def _running(flags: npt.NDArray[np.bool_], days: int) -> npt.NDArray[np.bool_]:
    """Days that end a run of at least `days` flagged days."""
    run = flags.copy()
    for lag in range(1, days):
        run[:, lag:] &= flags[:, :-lag]
        run[:, :lag] = False
    return run


def _within(flags: npt.NDArray[np.bool_], days: int) -> npt.NDArray[np.bool_]:
    """Days with a flagged day among themselves and the days-1 before."""
    out = flags.copy()
    for lag in range(1, days):
        out[:, lag:] |= flags[:, :-lag]
    return out


def _flags(det: AnomalyDetector, sig: Signals) -> dict[str, tuple[npt.NDArray[np.bool_], Matrix]]:
    """Per type: (unusual days, score). A score is the signal in multiples of its threshold."""
    k = det.multipliers
    ok = sig.scorable
    z = {name: np.nan_to_num(sig.z[name], nan=-np.inf) for name in CALIBRATED}
    raw = {name: np.nan_to_num(sig.raw[name], nan=-np.inf) for name in sig.raw}
    level = ok & (z["level_4d"] >= k["level_4d"]) & (raw["level_4d"] >= MIN_LEVEL)
    base = ok & (z["baseload_dev"] >= k["baseload_dev"]) & (raw["baseload_dev"] >= MIN_BASELOAD_KW)
    extra_kwh = np.maximum(raw["extra_kwh"], 1e-9)
    base_share = raw["baseload_dev"] * 24.0 / extra_kwh
    # ... and the day's total rose with it: a peak moved into the night raises the base, not the day.
    in_night = (raw["baseload_dev"] >= MIN_BASELOAD_KW) & (base_share >= BASELOAD_SHARE)
    in_night &= base_share <= 1.0 / BASELOAD_SHARE
    added = base & in_night
    spike = ok & (z["peak_dev"] >= k["peak_dev"]) & (raw["peak_dev"] >= MIN_SPIKE_KW) & ~added
    # A spike puts its extra energy into a few hours: the peak rise carries a large share of it.
    spike &= (raw["peak_dev"] * 3.0 >= 0.6 * raw["extra_kwh"]) & (raw["extra_kwh"] >= MIN_SPIKE_KWH)
    # ... and leaves the rest of the day as it was: a whole day up is the start of a step, not a spike.
    spike &= raw["whole_day"] < SPIKE_DAY_RISE
    # The days of a rise already named added baseload are not a second, whole-day one (nor are the
    # days after it, while the multi-day mean still holds them). A lone day of raised nights is no
    # added baseload (that needs 2 days running): it holds the whole-day rise back on that day only,
    # or a +50 % week whose nights crossed the bar on one day went unreported.
    added_alert = _running(added, 2)
    rise = level & ~added & ~_within(added_alert, LEVEL_DAYS) & ~spike
    # A whole-day rise found in a home whose nights swing too much for the base signal alone is still
    # typed by where its extra kWh sit: all in a raised night is added baseload (and the days after
    # it, while the multi-day mean still holds it, no step).
    night_share = (base_share >= NIGHT_RISE_SHARE) & (base_share <= 1.0 / NIGHT_RISE_SHARE)
    night_rise = rise & night_share & (raw["baseload_dev"] >= NIGHT_RISE_KW)
    step = rise & ~_within(night_rise, LEVEL_DAYS)
    k_shift = SHIFT_STRICTNESS * k["shift_3d"]
    shift = ok & (z["shift_3d"] >= k_shift) & (raw["shift_3d"] >= MIN_SHIFT_HOURS) & ~level
    no_use = sig.no_use
    return {
        "no_use": (no_use, np.where(no_use, 1.0, np.nan)),
        "added_baseload": (
            added_alert | night_rise,
            np.where(night_rise, z["level_4d"] / k["level_4d"], z["baseload_dev"] / k["baseload_dev"]),
        ),
        "spike": (spike, z["peak_dev"] / k["peak_dev"]),
        "step_increase": (step, z["level_4d"] / k["level_4d"]),
        "shifted_peak": (_running(shift, SHIFT_RUN_DAYS), z["shift_3d"] / k_shift),
    }


def _describe(kind: str, sig: Signals, r: int, c: int, run: int) -> str:
    m, med = sig.daily, sig.medians
    span = f"for {run} days" if run > 1 else "on one day"
    kwh, usual = m["kwh"][r, c], med["kwh"][r, c]
    if kind == "no_use":
        return f"Almost no use recorded ({kwh:.2f} kWh against a usual {usual:.1f} kWh) {span}"
    parts = [f"daily use {kwh:.1f} kWh against a usual {usual:.1f} kWh {span}"]
    if kind == "added_baseload":
        now, usual_kw = m["baseload_kwh"][r, c], med["baseload_kwh"][r, c]
        parts.append(f"overnight use {now:.2f} kW against a usual {usual_kw:.2f} kW")
    elif kind == "spike":
        parts.append(f"a peak of {m['peak_kw'][r, c]:.1f} kW against a usual {med['peak_kw'][r, c]:.1f} kW")
    elif kind == "shifted_peak":
        hour, usual_hour = int(m["peak_hour"][r, c]), int(med["peak_hour"][r, c])
        parts.append(f"peak at {hour:02d}:00 instead of about {usual_hour:02d}:00")
    if sig.weather_fitted[r] and kind in ("step_increase", "added_baseload"):
        parts.append(f"{sig.expected[r, c]:.1f} kWh expected for the day's weather")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _period_keys(dates: pd.DatetimeIndex, cycle_days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Billing period of each date for a customer whose bills start on day `cycle_day` of the month."""
    months = dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1
    return np.asarray(months - (dates.day.to_numpy() < cycle_days), dtype=np.int64)


def _records(
    sig: Signals, kind: str, alert: npt.NDArray[np.bool_], scores: Matrix
) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    dates = sig.daily.dates
    for r, c in zip(*np.nonzero(alert), strict=True):
        start = int(c)
        while start > 0 and alert[r, start - 1] and c - start < 6:
            start -= 1
        records.append(
            {
                "customer_id": sig.daily.customers[r],
                "anomaly_type": kind,
                "alert_date": dates[c].date(),
                "first_date": dates[start].date(),
                "days": [d.date().isoformat() for d in dates[start : c + 1]],
                "score": round(float(scores[r, c]), 4),
                "description": _describe(kind, sig, int(r), int(c), int(c) - start + 1),
            }
        )
    return records


def _alerts(
    sig: Signals,
    flags: dict[str, tuple[npt.NDArray[np.bool_], Matrix]],
    billing_cycle_day: dict[str, int] | None,
) -> pd.DataFrame:
    records = [rec for kind, (alert, scores) in flags.items() for rec in _records(sig, kind, alert, scores)]
    out = pd.DataFrame(records, columns=ALERT_COLUMNS)
    if out.empty:
        return out
    cycle = np.asarray(out["customer_id"].map(billing_cycle_day or {}).fillna(1), dtype=np.int64)
    out["period"] = _period_keys(pd.DatetimeIndex(pd.to_datetime(out["alert_date"])), cycle)
    out = out.sort_values(["customer_id", "alert_date", "anomaly_type"]).drop_duplicates(
        ["customer_id", "anomaly_type", "period"]
    )
    out = out[_first_of_episode(out)]
    return out.drop(columns="period").reset_index(drop=True)


def _first_of_episode(alerts: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """One message per episode: an alert within EPISODE_DAYS after the customer's last kept one of the
    same type is the same change seen again (after a new billing period began, say)."""
    keep = np.ones(len(alerts), dtype=bool)
    last: dict[tuple[object, object], pd.Timestamp] = {}
    dates = pd.to_datetime(alerts["alert_date"])
    keys = zip(alerts["customer_id"], alerts["anomaly_type"], strict=True)
    for i, (key, day) in enumerate(zip(keys, dates, strict=True)):
        previous = last.get(key)
        if previous is not None and (day - previous).days <= EPISODE_DAYS:
            keep[i] = False
        else:
            last[key] = day
    return keep


def detect(
    detector: AnomalyDetector,
    daily: pd.DataFrame,
    *,
    excluded: pd.DataFrame | None = None,
    billing_cycle_day: dict[str, int] | None = None,
) -> Detection:
    """Alerts from daily features (with `temperature_c` for the weather model; without it, or for
    meters without weather dependence, the weather-free form)."""
    sig = signals_of(daily, excluded=excluded)
    alerts = _alerts(sig, _flags(detector, sig), billing_cycle_day)
    return Detection(alerts, _skipped(sig), bool(sig.weather_fitted.any()))


def rule_flags(kwh: Matrix) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], Matrix]:
    """(days >= 1.5x the mean of the 30 days before, alert days: the third such day running, ratio)."""
    mean, count = trailing(kwh, RULE_WINDOW_DAYS, "mean")
    ratio = np.where((count >= MIN_HISTORY_DAYS) & (mean > 0), kwh / np.where(mean > 0, mean, 1.0), np.nan)
    high = np.nan_to_num(ratio) >= RULE_FACTOR
    return high, _running(high, RULE_RUN_DAYS), ratio


def rule_detect(
    daily: pd.DataFrame,
    *,
    excluded: pd.DataFrame | None = None,
    billing_cycle_day: dict[str, int] | None = None,
) -> Detection:
    """The utility rule for increases, plus the same no-use check as `detect`."""
    sig = signals_of(daily, excluded=excluded)
    _, run, ratio = rule_flags(sig.daily["kwh"])
    flags = {
        "no_use": (sig.no_use, np.where(sig.no_use, 1.0, np.nan)),
        "step_increase": (run, ratio),
    }
    return Detection(_alerts(sig, flags, billing_cycle_day), _skipped(sig), bool(sig.weather_fitted.any()))
