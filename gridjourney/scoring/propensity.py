"""Propensity models (DR enrolment, DR response, churn) on customer attributes and usage.

A regularised logistic regression on standardised features, with the transforms the drivers act
through (any late payment, the square root of tenure, logs of size and use): on a few thousand
labelled customers it ranks better and is better calibrated than gradient-boosted trees, which
overfit the noise of the labels (measured on simulations: see README "Meter data and scoring").
Customers are split into training and held-out sets by a hash of their id, so the split is the same
on every run and for every model, and evaluation always uses customers the model never saw. Where
the labels come with the probability they were drawn from (the simulator's ground truth), the
held-out figures include that oracle's AUC and Brier score: the best any model could do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from gridjourney.scoring.evaluation import classification_report

TARGETS = {"dr_enrolment": "dr_enrolled", "dr_response": "dr_responder", "churn": "churned"}
# The probability each label was drawn from, where the data knows it (simulate/population.py).
TRUE_PROBABILITIES = {
    "dr_enrolment": "dr_enrol_propensity",
    "dr_response": "dr_response_propensity",
    "churn": "churn_risk",
}
ATTRIBUTE_FEATURES = (
    "sqft",
    "billing_cycle_day",
    "has_smart_thermostat",
    "online_account",
    "tenure_years",
    "late_payments_12m",
    "contacts_12m",
    "is_business",
    "is_apartment",
    "tariff_tou",
    "tariff_nem",
    "tariff_ev",
)
USAGE_FEATURES = (
    "kwh_mean",
    "kwh_cv",
    "peak_kw_mean",
    "load_factor_mean",
    "evening_morning_mean",
    "baseload_mean",
    "weekend_ratio",
    "cooling_slope",
    "heating_slope",
)
FEATURES: tuple[str, ...] = (*ATTRIBUTE_FEATURES, *USAGE_FEATURES)
HOLDOUT_SHARE = 0.3
MIN_DAYS = 14
# Strong L2 shrinkage: a few hundred positives per model, and labels drawn at random.
PARAMS: dict[str, Any] = {"C": 0.1, "max_iter": 2000}


def is_holdout(customer_ids: pd.Series) -> np.ndarray:
    digest = [int(hashlib.blake2b(str(c).encode(), digest_size=4).hexdigest(), 16) for c in customer_ids]
    return np.asarray(np.array(digest) % 1000 < HOLDOUT_SHARE * 1000)


def _slope(g: pd.DataFrame, x: str) -> float:
    v = g[x].to_numpy(dtype=float)
    if np.nanstd(v) < 1e-6:
        return 0.0
    return float(np.polyfit(v, g["kwh"].to_numpy(dtype=float), 1)[0])


# Customer attributes the features are computed from (customer.created / customer.updated).
CUSTOMER_ATTRIBUTES = (
    "sqft",
    "billing_cycle_day",
    "tenure_years",
    "late_payments_12m",
    "contacts_12m",
    "has_smart_thermostat",
    "online_account",
    "dwelling",
    "tariff",
)
_FLAGS = ("has_smart_thermostat", "online_account")


def customer_table(rows: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The customers frame customer_features reads, from (customer id, attributes); a missing or
    malformed attribute is missing (NaN), flags given as "true"/"false" become 1/0."""
    frame = pd.DataFrame(
        [
            {
                "customer_id": customer_id,
                **{
                    name: value
                    if isinstance(value := attributes.get(name), int | float | str | bool)
                    else None
                    for name in CUSTOMER_ATTRIBUTES
                },
            }
            for customer_id, attributes in rows
        ],
        columns=["customer_id", *CUSTOMER_ATTRIBUTES],
    )
    for name in _FLAGS:
        frame[name] = pd.to_numeric(frame[name].map(_as_flag), errors="coerce")
    return frame


def _plain(value: Any) -> int | float | str | bool | None:
    return value if isinstance(value, int | float | str | bool) else None


def _as_flag(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return float(value.lower() == "true")
    return None


def customer_features(customers: pd.DataFrame, daily: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features indexed by customer_id, skipped with reason). Attributes come from customer.created,
    usage from daily features (customers with fewer than MIN_DAYS days get no score)."""
    d = daily.dropna(subset=["kwh"])
    g = d.groupby("customer_id")
    usage = pd.DataFrame(
        {
            "days": g.size(),
            "kwh_mean": g["kwh"].mean(),
            "kwh_cv": g["kwh"].std() / g["kwh"].mean().abs().clip(lower=0.5),
            "peak_kw_mean": g["peak_kw"].mean(),
            "load_factor_mean": g["load_factor"].mean(),
            "evening_morning_mean": g["evening_morning_ratio"].median(),
            "baseload_mean": g["baseload_kwh"].mean(),
            "weekend_ratio": d[~d["is_weekday"]].groupby("customer_id")["kwh"].mean()
            / g["kwh"].mean().abs().clip(lower=0.5),
            "cooling_slope": g[["kwh", "cdd"]].apply(lambda x: _slope(x, "cdd")),
            "heating_slope": g[["kwh", "hdd"]].apply(lambda x: _slope(x, "hdd")),
        }
    )
    c = customers.set_index("customer_id")
    attrs = pd.DataFrame(index=c.index)
    for name in ("sqft", "billing_cycle_day", "tenure_years", "late_payments_12m", "contacts_12m"):
        attrs[name] = pd.to_numeric(c[name], errors="coerce")
    for name in ("has_smart_thermostat", "online_account"):
        attrs[name] = c[name].astype(float)
    attrs["is_business"] = (c["dwelling"] == "small_business").astype(float)
    attrs["is_apartment"] = (c["dwelling"] == "apartment").astype(float)
    attrs["tariff_tou"] = (c["tariff"] == "residential_tou").astype(float)
    attrs["tariff_nem"] = (c["tariff"] == "nem").astype(float)
    attrs["tariff_ev"] = (c["tariff"] == "ev_tou").astype(float)
    frame = attrs.join(usage, how="left")
    short = frame["days"].fillna(0) < MIN_DAYS
    skipped = pd.DataFrame(
        {
            "customer_id": frame.index[short],
            "reason": [f"{int(n)} days of reads; {MIN_DAYS} needed" for n in frame["days"].fillna(0)[short]],
        }
    )
    return frame.loc[~short, list(FEATURES)], skipped


def with_transforms(features: pd.DataFrame) -> pd.DataFrame:
    """The features plus the forms the drivers act through."""
    out = features.astype(np.float64).copy()
    out["late_any"] = (out["late_payments_12m"] > 0).astype(np.float64)
    out["tenure_sqrt"] = np.sqrt(out["tenure_years"].clip(lower=0))
    out["log_sqft"] = np.log(out["sqft"].clip(lower=100))
    out["log_kwh"] = np.log(out["kwh_mean"].clip(lower=0.1))
    out["log_peak_kw"] = np.log(out["peak_kw_mean"].clip(lower=0.05))
    return out


def new_classifier(seed: int = 0) -> Pipeline:
    return Pipeline(
        [
            ("transforms", FunctionTransformer(with_transforms)),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(random_state=seed, **PARAMS)),
        ]
    )


@dataclass
class PropensityModel:
    target: str
    model: Any  # a fitted classifier with predict_proba (new_classifier's pipeline)
    features: tuple[str, ...] = FEATURES

    def score(self, features: pd.DataFrame) -> pd.Series:
        proba = np.asarray(self.model.predict_proba(features[list(self.features)]), dtype=np.float64)
        return pd.Series(proba[:, 1], index=features.index)


def train_propensity(
    name: str, features: pd.DataFrame, labels: pd.DataFrame, *, seed: int = 0
) -> tuple[PropensityModel, dict[str, float], pd.DataFrame]:
    """Fit on the training customers; (model, held-out figures, calibration table)."""
    y = labels.set_index("customer_id")[TARGETS[name]].reindex(features.index).astype(float)
    hold = is_holdout(pd.Series(features.index))
    clf = new_classifier(seed).fit(features[~hold][list(FEATURES)], y[~hold])
    model = PropensityModel(target=name, model=clf)
    figures, calibration = classification_report(y[hold], model.score(features[hold]))
    return model, {**figures, **oracle_figures(name, labels, features.index[hold])}, calibration


def evaluate_propensity(
    model: PropensityModel, features: pd.DataFrame, labels: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame]:
    y = labels.set_index("customer_id")[TARGETS[model.target]].reindex(features.index).astype(float)
    hold = is_holdout(pd.Series(features.index))
    figures, calibration = classification_report(y[hold], model.score(features[hold]))
    return {**figures, **oracle_figures(model.target, labels, features.index[hold])}, calibration


def oracle_figures(name: str, labels: pd.DataFrame, customers: pd.Index) -> dict[str, float]:
    """AUC and Brier score of the true probabilities against the drawn labels of these customers;
    nothing when the labels do not come with their probabilities (real data)."""
    truth = TRUE_PROBABILITIES[name]
    if truth not in labels.columns:
        return {}
    frame = labels.set_index("customer_id").reindex(customers)[[truth, TARGETS[name]]].dropna()
    y = frame[TARGETS[name]].astype(float).to_numpy()
    p = frame[truth].astype(float).to_numpy()
    if not 0 < y.sum() < len(y):
        return {}
    return {"oracle_roc_auc": float(roc_auc_score(y, p)), "oracle_brier": float(brier_score_loss(y, p))}
