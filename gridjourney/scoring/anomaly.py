"""Meter anomalies: an Isolation Forest on each day's features relative to the meter's own baseline,
beside the rule utilities use (daily use >= 50 % above the 30-day mean, 3 days running).

Alerts: at most one per customer, type and billing period; days of known outages or DR events are
never scored (pass them as `excluded`). A meter with too little history gets no score and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import IsolationForest

from gridjourney.scoring.baselines import DailyMatrix, Matrix, to_matrix, trailing

__all__ = ["AnomalyDetector", "Detection", "detect", "fit_detector", "rule_detect", "rule_flags", "to_matrix"]
from gridjourney.metering.holidays import holidays_between

BASELINE_DAYS = 28
MIN_HISTORY_DAYS = 14
RULE_WINDOW_DAYS = 30
RULE_FACTOR = 1.5
RULE_RUN_DAYS = 3
FEATURES: tuple[str, ...] = (
    "kwh_dev",
    "baseload_dev",
    "peak_dev",
    "load_factor_dev",
    "evening_morning_dev",
    "peak_hour_shift",
    "kwh_dev_3d",
    "baseload_dev_3d",
    "peak_hour_shift_3d",
)
SOURCE_COLUMNS = (
    "kwh",
    "baseload_kwh",
    "peak_kw",
    "load_factor",
    "evening_morning_ratio",
    "peak_hour",
    "hdd",
    "cdd",
)


@dataclass(frozen=True)
class Relative:
    daily: DailyMatrix
    features: dict[str, Matrix]
    medians: dict[str, Matrix]
    history: npt.NDArray[np.int64]  # days in each day's baseline window

    def rows(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """(cells x features) and which cells can be scored."""
        x = np.stack([self.features[f] for f in FEATURES], axis=-1)
        ok = (self.history >= MIN_HISTORY_DAYS) & ~np.isnan(x).any(axis=-1)
        return x, ok


def _dev(values: Matrix, floor: float, workday: npt.NDArray[np.bool_]) -> tuple[Matrix, Matrix]:
    # Workdays are compared with workdays and weekends/holidays with weekends: a shop closed on Sunday
    # is not an anomaly.
    med = np.empty_like(values)
    mad = np.empty_like(values)
    for kind in (workday, ~workday):
        part = np.where(kind, values, np.nan)
        m, _ = trailing(part, BASELINE_DAYS, "median")
        d, _ = trailing(part, BASELINE_DAYS, "mad")
        med = np.where(kind, m, med)
        mad = np.where(kind, d, mad)
    # The floor keeps a very regular meter from turning a small wobble into a huge deviation.
    scale = np.maximum(1.4826 * mad, 0.1 * np.abs(med) + floor)
    return (values - med) / scale, med


def _mean3(values: Matrix) -> Matrix:
    padded = np.concatenate([np.full((values.shape[0], 2), np.nan), values], axis=1)
    with np.errstate(invalid="ignore"):
        stacked = np.stack([padded[:, 2:], padded[:, 1:-1], padded[:, :-2]])
    out: Matrix = np.where(
        np.isnan(stacked).all(axis=0), np.nan, np.nanmean(np.where(np.isnan(stacked), 0, stacked), axis=0)
    )
    return np.where(np.isnan(values), np.nan, out)


def relative_features(daily: pd.DataFrame, *, excluded: pd.DataFrame | None = None) -> Relative:
    m = to_matrix(daily, SOURCE_COLUMNS, excluded=excluded)
    holidays = holidays_between(m.dates[0].date(), m.dates[-1].date()) if len(m.dates) else set()
    workday_row = np.array([d.weekday() < 5 and d.date() not in holidays for d in m.dates], dtype=bool)
    workday = np.broadcast_to(workday_row, m.shape)
    feats: dict[str, Matrix] = {}
    meds: dict[str, Matrix] = {}
    for out, col, floor in (
        ("kwh_dev", "kwh", 0.5),
        ("baseload_dev", "baseload_kwh", 0.05),
        ("peak_dev", "peak_kw", 0.2),
        ("load_factor_dev", "load_factor", 0.02),
    ):
        feats[out], meds[col] = _dev(m[col], floor, workday)
    ratio = np.log(np.clip(m["evening_morning_ratio"], 0.05, 20.0))
    feats["evening_morning_dev"], _ = _dev(ratio, 0.1, workday)
    hour_med, _ = trailing(m["peak_hour"], BASELINE_DAYS, "median")
    meds["peak_hour"] = hour_med
    shift = np.abs((m["peak_hour"] - hour_med + 12.0) % 24.0 - 12.0)
    typical_shift, _ = trailing(shift, BASELINE_DAYS, "mean")
    feats["peak_hour_shift"] = shift - typical_shift
    # Three-day means: a sustained change stands out where one day's noise does not.
    for name in ("kwh_dev", "baseload_dev", "peak_hour_shift"):
        feats[f"{name}_3d"] = _mean3(feats[name])
    _, history = trailing(m["kwh"], BASELINE_DAYS, "mean")
    return Relative(daily=m, features=feats, medians=meds, history=history)


@dataclass
class AnomalyDetector:
    forest: IsolationForest
    threshold: float  # a day at or above it is unusual
    strong_threshold: float  # one day at or above it is enough for an alert
    features: tuple[str, ...] = FEATURES


def fit_detector(
    daily: pd.DataFrame,
    *,
    seed: int = 0,
    day_quantile: float = 0.985,
    strong_quantile: float = 0.998,
    sample: int = 200_000,
) -> AnomalyDetector:
    x, ok = relative_features(daily).rows()
    cells = x[ok]
    if len(cells) < 50:
        raise ValueError(f"only {len(cells)} scorable meter-days; at least 50 are needed to fit")
    rng = np.random.default_rng(seed)
    if len(cells) > sample:
        cells = cells[rng.choice(len(cells), sample, replace=False)]
    forest = IsolationForest(n_estimators=150, max_samples=512, random_state=seed).fit(cells)
    scores = -forest.score_samples(cells)
    return AnomalyDetector(
        forest=forest,
        threshold=float(np.quantile(scores, day_quantile)),
        strong_threshold=float(np.quantile(scores, strong_quantile)),
    )


@dataclass(frozen=True)
class Detection:
    alerts: pd.DataFrame  # customer_id, anomaly_type, alert_date, first_date, days, score, description
    skipped: pd.DataFrame  # customer_id, reason


ALERT_COLUMNS = ["customer_id", "anomaly_type", "alert_date", "first_date", "days", "score", "description"]


def _skipped(rel: Relative) -> pd.DataFrame:
    most = rel.history.max(axis=1) if rel.history.size else np.zeros(len(rel.daily.customers), dtype=np.int64)
    short = most < MIN_HISTORY_DAYS
    return pd.DataFrame(
        {
            "customer_id": rel.daily.customers[short],
            "reason": [f"{n} days of history; {MIN_HISTORY_DAYS} needed for a baseline" for n in most[short]],
        }
    )


def _classify(f: dict[str, float], kwh: float, usual: float) -> str | None:
    """The planted-style type an unusual day looks like; None for a day that is merely low (a holiday
    away is not worth a message)."""
    if abs(kwh) < 0.05 * abs(usual) + 0.05 or f["load_factor_dev"] > 4:
        return "flat_line"
    if f["peak_dev"] > 4 and f["kwh_dev"] < 0.5 * f["peak_dev"]:
        return "spike"
    if f["baseload_dev"] > 3 and f["baseload_dev"] >= f["kwh_dev"]:
        return "added_baseload"
    if f["kwh_dev"] > 2:
        return "step_increase"
    if f["peak_hour_shift_3d"] > 3 or abs(f["evening_morning_dev"]) > 3:
        return "shifted_peak"
    return None


def _describe(kind: str, rel: Relative, r: int, c: int, run: int) -> str:
    m, med = rel.daily, rel.medians
    span = f"for {run} day{'s' if run > 1 else ''}" if run > 1 else "on one day"
    kwh, usual = m["kwh"][r, c], med["kwh"][r, c]
    parts = [f"daily use {kwh:.1f} kWh against a usual {usual:.1f} kWh {span}"]
    if kind == "added_baseload":
        now, usual_kw = m["baseload_kwh"][r, c], med["baseload_kwh"][r, c]
        parts.append(f"overnight use {now:.2f} kW against a usual {usual_kw:.2f} kW")
    elif kind == "spike":
        parts.append(f"a peak of {m['peak_kw'][r, c]:.1f} kW against a usual {med['peak_kw'][r, c]:.1f} kW")
    elif kind == "shifted_peak":
        hour, usual_hour = int(m["peak_hour"][r, c]), int(med["peak_hour"][r, c])
        parts.append(f"peak at {hour:02d}:00 instead of about {usual_hour:02d}:00")
    elif kind == "flat_line":
        parts.append(f"load factor {m['load_factor'][r, c]:.2f} (flat or missing reads)")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _period_keys(dates: pd.DatetimeIndex, cycle_days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Billing period of each date for a customer whose bills start on day `cycle_day` of the month."""
    months = dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1
    return np.asarray(months - (dates.day.to_numpy() < cycle_days), dtype=np.int64)


def _alerts_from(
    rel: Relative,
    flagged: npt.NDArray[np.bool_],
    alert: npt.NDArray[np.bool_],
    scores: Matrix,
    billing_cycle_day: dict[str, int] | None,
    kind_of: str | None,
) -> pd.DataFrame:
    rows, cols = np.nonzero(alert)
    records = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        start = c
        while start > 0 and flagged[r, start - 1] and c - start < 6:
            start -= 1
        f = {name: float(rel.features[name][r, c]) for name in FEATURES}
        kind = kind_of or _classify(f, rel.daily["kwh"][r, c], rel.medians["kwh"][r, c])
        if kind is None:
            continue
        records.append(
            {
                "customer_id": rel.daily.customers[r],
                "anomaly_type": kind,
                "alert_date": rel.daily.dates[c].date(),
                "first_date": rel.daily.dates[start].date(),
                "days": [d.date().isoformat() for d in rel.daily.dates[start : c + 1]],
                "score": round(float(scores[r, c]), 4),
                "description": _describe(kind, rel, r, c, c - start + 1),
            }
        )
    out = pd.DataFrame(records, columns=ALERT_COLUMNS)
    if out.empty:
        return out
    cycle = np.asarray(out["customer_id"].map(billing_cycle_day or {}).fillna(1), dtype=np.int64)
    out["period"] = _period_keys(pd.DatetimeIndex(pd.to_datetime(out["alert_date"])), cycle)
    out = out.sort_values(["customer_id", "alert_date"]).drop_duplicates(
        ["customer_id", "anomaly_type", "period"]
    )
    return out.drop(columns="period").reset_index(drop=True)


def detect(
    detector: AnomalyDetector,
    daily: pd.DataFrame,
    *,
    excluded: pd.DataFrame | None = None,
    billing_cycle_day: dict[str, int] | None = None,
) -> Detection:
    rel = relative_features(daily, excluded=excluded)
    x, ok = rel.rows()
    scores = np.full(ok.shape, np.nan)
    if ok.any():
        scores[ok] = -detector.forest.score_samples(x[ok])
    flagged = np.nan_to_num(scores, nan=-np.inf) >= detector.threshold
    previous = np.concatenate([np.zeros((flagged.shape[0], 1), dtype=bool), flagged[:, :-1]], axis=1)
    strong = np.nan_to_num(scores, nan=-np.inf) >= detector.strong_threshold
    alert = flagged & (previous | strong)
    return Detection(_alerts_from(rel, flagged, alert, scores, billing_cycle_day, None), _skipped(rel))


def rule_flags(kwh: Matrix) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], Matrix]:
    """(days >= 1.5x the mean of the 30 days before, alert days: the third such day running, ratio)."""
    mean, count = trailing(kwh, RULE_WINDOW_DAYS, "mean")
    ratio = np.where((count >= MIN_HISTORY_DAYS) & (mean > 0), kwh / np.where(mean > 0, mean, 1.0), np.nan)
    high = np.nan_to_num(ratio) >= RULE_FACTOR
    run = high.copy()
    for lag in range(1, RULE_RUN_DAYS):
        run[:, lag:] &= high[:, :-lag]
        run[:, :lag] = False
    return high, run, ratio


def rule_detect(
    daily: pd.DataFrame,
    *,
    excluded: pd.DataFrame | None = None,
    billing_cycle_day: dict[str, int] | None = None,
) -> Detection:
    rel = relative_features(daily, excluded=excluded)
    high, run, ratio = rule_flags(rel.daily["kwh"])
    return Detection(_alerts_from(rel, high, run, ratio, billing_cycle_day, "step_increase"), _skipped(rel))
