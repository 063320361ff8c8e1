"""Quality figures on held-out or planted truth: anomaly precision/recall, AUC, Brier, calibration, MAPE."""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

MATCH_GRACE_DAYS = 3  # an alert up to 3 days after a planted anomaly ends still counts as finding it


def evaluate_alerts(
    alerts: pd.DataFrame,
    planted: pd.DataFrame,
    *,
    customers: int,
    days: int,
    evaluable_from: date | None = None,
) -> dict[str, float]:
    """Match alerts to planted anomalies (same customer, alert day within [onset, end + grace]).

    precision: share of alerts that match a planted anomaly; recall: share of planted anomalies (with
    onset on or after `evaluable_from`) found; alerts per 1,000 customers per 30 days; days from onset
    to the first matching alert (median)."""
    truth = planted.copy()
    if evaluable_from is not None:
        truth = truth[pd.to_datetime(truth["onset"]) >= pd.Timestamp(evaluable_from)]
    a = alerts[["customer_id", "alert_date"]].copy()
    a["alert_id"] = np.arange(len(a))
    a["alert_date"] = pd.to_datetime(a["alert_date"])
    t = truth[["customer_id", "onset", "end"]].copy()
    t["truth_id"] = np.arange(len(t))
    t["onset"] = pd.to_datetime(t["onset"])
    t["end"] = pd.to_datetime(t["end"]) + pd.Timedelta(days=MATCH_GRACE_DAYS)
    pairs = a.merge(t, on="customer_id")
    pairs = pairs[(pairs["alert_date"] >= pairs["onset"]) & (pairs["alert_date"] <= pairs["end"])]
    # Alerts on a planted anomaly whose onset precedes `evaluable_from` are neither right nor wrong.
    neutral: set[int] = set()
    if evaluable_from is not None:
        early = planted[pd.to_datetime(planted["onset"]) < pd.Timestamp(evaluable_from)]
        e = a.merge(early[["customer_id", "onset", "end"]], on="customer_id")
        e = e[
            (e["alert_date"] >= pd.to_datetime(e["onset"]))
            & (e["alert_date"] <= pd.to_datetime(e["end"]) + pd.Timedelta(days=MATCH_GRACE_DAYS))
        ]
        neutral = set(e["alert_id"])
    counted = len(a) - len(neutral - set(pairs["alert_id"]))
    matched_alerts = pairs["alert_id"].nunique()
    found = pairs.groupby("truth_id").agg(onset=("onset", "first"), first_alert=("alert_date", "min"))
    delay = (found["first_alert"] - found["onset"]).dt.days
    return {
        "alerts": float(len(a)),
        "planted": float(len(t)),
        "precision": matched_alerts / counted if counted else float("nan"),
        "recall": len(found) / len(t) if len(t) else float("nan"),
        "alerts_per_1000_customers_month": len(a) / customers * 1000 / (days / 30)
        if customers and days
        else 0.0,
        "median_days_to_alert": float(delay.median()) if len(delay) else float("nan"),
    }


def classification_report(
    y: npt.ArrayLike, p: npt.ArrayLike, *, bins: int = 10
) -> tuple[dict[str, float], pd.DataFrame]:
    """ROC AUC, Brier score and base rate, and a calibration table (deciles of the predicted score)."""
    yt = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    figures = {
        "roc_auc": float(roc_auc_score(yt, pp)) if 0 < yt.sum() < len(yt) else float("nan"),
        "brier": float(brier_score_loss(yt, pp)),
        "base_rate": float(yt.mean()),
        "rows": float(len(yt)),
    }
    edges = np.unique(np.quantile(pp, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pp, side="right") - 1, 0, max(len(edges) - 2, 0))
    table = (
        pd.DataFrame({"bin": which, "predicted": pp, "observed": yt})
        .groupby("bin")
        .agg(count=("observed", "size"), predicted=("predicted", "mean"), observed=("observed", "mean"))
        .reset_index()
    )
    return figures, table


def mape(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    ok = np.abs(a) > 0
    return float(np.mean(np.abs(p[ok] - a[ok]) / np.abs(a[ok])))
