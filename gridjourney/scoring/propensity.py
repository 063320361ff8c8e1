"""Propensity models (DR enrolment, DR response, churn) on what a utility knows of a customer.

The features are the customer's attributes, their usage (level, variability, peak, baseload), their
habits (shares of the typical day's use by part of the day, weekdays and weekends) and their weather:
kWh per cooling and heating degree-day fitted jointly, and how hot or cold their days were. A logistic
regression with L1 shrinkage on standardised features, with the transforms the drivers act through
(any late payment, the square root of tenure, logs of size and use), ranks better and is better
calibrated than gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier scored 0.02 AUC
lower), which overfit the noise of a few hundred labels (measured on simulations: README "Meter data
and scoring"). Customers are split into training and held-out sets by a hash of their id, so the
split is the same on every run and for every model, and evaluation always uses customers the model
never saw. Where the labels come with the probability they were drawn from (the simulator's ground
truth), the held-out figures include the oracle's and the observable ceiling's (propensity_eval.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from gridjourney.scoring import segmentation
from gridjourney.scoring.evaluation import classification_report
from gridjourney.scoring.propensity_eval import TARGETS as TARGETS
from gridjourney.scoring.propensity_eval import oracle_figures

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
    "cooling_kwh_per_degree_day",
    "heating_kwh_per_degree_day",
    "cooling_degree_days_mean",
    "heating_degree_days_mean",
)
# Shares of the typical day's use by part of the day (segmentation.DAY_PARTS), weekdays and weekends:
# the habits (home all day, night charging, evening peak) that the level alone does not show.
PART_NAMES = ("night", "morning", "midday", "evening")
SHAPE_FEATURES = tuple(f"share_{day}_{part}" for day in ("weekday", "weekend") for part in PART_NAMES)
FEATURES: tuple[str, ...] = (*ATTRIBUTE_FEATURES, *USAGE_FEATURES, *SHAPE_FEATURES)
HOLDOUT_SHARE = 0.3
MIN_DAYS = 14
# L1 shrinkage: a few hundred positives per model, labels drawn at random, and features of which only
# some matter to each target. C = 0.15 is what 5-fold cross-validation on log-loss chose for all three
# targets on simulations of 1,000 customers (seeds 42, 7 and 3); README "Meter data and scoring".
PARAMS: dict[str, Any] = {"C": 0.15, "l1_ratio": 1.0, "solver": "saga", "max_iter": 5000}


def is_holdout(customer_ids: pd.Series) -> np.ndarray:
    digest = [int(hashlib.blake2b(str(c).encode(), digest_size=4).hexdigest(), 16) for c in customer_ids]
    return np.asarray(np.array(digest) % 1000 < HOLDOUT_SHARE * 1000)


def weather_slopes(daily: pd.DataFrame) -> pd.DataFrame:
    """Per customer, kWh per cooling and per heating degree-day, fitted jointly with a weekend term
    (day kWh ~ 1 + cdd + hdd + weekend): fitted one at a time, each slope also takes up the other
    season's weather. A degree-day that never occurs gets a slope of 0 (the least-norm solution);
    days without a temperature count as 0 degree-days (the weather-free form)."""
    codes, customers = pd.factorize(daily["customer_id"])
    x = np.column_stack(
        [
            np.ones(len(daily)),
            daily["cdd"].fillna(0.0).to_numpy(dtype=np.float64),
            daily["hdd"].fillna(0.0).to_numpy(dtype=np.float64),
            (~daily["is_weekday"].astype(bool)).to_numpy(dtype=np.float64),
        ]
    )
    y = daily["kwh"].to_numpy(dtype=np.float64)
    xtx = np.zeros((len(customers), 4, 4))
    xty = np.zeros((len(customers), 4))
    np.add.at(xtx, codes, x[:, :, None] * x[:, None, :])
    np.add.at(xty, codes, x * y[:, None])
    beta = np.einsum("cij,cj->ci", np.linalg.pinv(xtx), xty)
    return pd.DataFrame(
        {"cooling_kwh_per_degree_day": beta[:, 1], "heating_kwh_per_degree_day": beta[:, 2]},
        index=pd.Index(customers, name="customer_id"),
    )


def day_part_shares(shapes: pd.DataFrame) -> pd.DataFrame:
    """SHAPE_FEATURES per customer from the 48-hour load shapes (metering/features.py load_shapes)."""
    x = shapes.reindex(columns=list(segmentation.SHAPE_COLUMNS)).to_numpy(dtype=np.float64)
    parts = segmentation.physical_features(x)[:, : len(SHAPE_FEATURES)]
    return pd.DataFrame(parts, index=shapes.index, columns=list(SHAPE_FEATURES))


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


def customer_features(
    customers: pd.DataFrame, daily: pd.DataFrame, shapes: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features indexed by customer_id, skipped with reason). Attributes come from customer.created,
    usage from daily features (customers with fewer than MIN_DAYS days get no score), habits from
    the load shapes (without them, or without a whole weekday and weekend shape: missing, imputed)."""
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
            "cooling_degree_days_mean": g["cdd"].mean(),
            "heating_degree_days_mean": g["hdd"].mean(),
        }
    ).join(weather_slopes(d))
    shares = day_part_shares(shapes) if shapes is not None else pd.DataFrame(columns=list(SHAPE_FEATURES))
    usage = usage.join(shares.astype(np.float64), how="left")
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
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
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
    figures, calibration = evaluate_propensity(model, features, labels)
    return model, figures, calibration


def evaluate_propensity(
    model: PropensityModel, features: pd.DataFrame, labels: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame]:
    y = labels.set_index("customer_id")[TARGETS[model.target]].reindex(features.index).astype(float)
    hold = is_holdout(pd.Series(features.index))
    scores = model.score(features[hold])
    figures, calibration = classification_report(y[hold], scores)
    return {**figures, **oracle_figures(model.target, labels, features.index[hold], scores)}, calibration
