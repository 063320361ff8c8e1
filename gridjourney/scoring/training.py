"""Train, save and evaluate every model on a labelled data set (what `gridjourney models` runs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from gridjourney.scoring import anomaly, propensity, segmentation
from gridjourney.scoring.bill_projection import mid_cycle_errors
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.evaluation import evaluate_alerts
from gridjourney.scoring.registry import Artifact, data_hash, load_model, save_model

MODEL_NAMES = ("segmentation", "anomaly", "dr_enrolment", "dr_response", "churn")


def _evaluate(name: str, model: Any, data: Dataset) -> dict[str, Any]:
    c = data.customers
    if name == "segmentation":
        assigned = model.assign(data.shapes).set_index("customer_id")["segment"]
        ari = segmentation.adjusted_rand(c.set_index("customer_id")["archetype"], assigned)
        return {"k": model.k, "adjusted_rand_index": ari, "segments": model.names}
    if name == "anomaly":
        cycle = dict(zip(c["customer_id"], c["billing_cycle_day"], strict=True))
        first = pd.to_datetime(data.daily["date"]).min().date() + timedelta(days=anomaly.MIN_HISTORY_DAYS)
        out: dict[str, Any] = {}
        for label, found in (
            (
                "isolation_forest",
                anomaly.detect(model, data.daily, excluded=data.excluded, billing_cycle_day=cycle),
            ),
            (
                "rule_baseline",
                anomaly.rule_detect(data.daily, excluded=data.excluded, billing_cycle_day=cycle),
            ),
        ):
            out[label] = evaluate_alerts(
                found.alerts, data.anomalies, customers=len(c), days=data.days, evaluable_from=first
            )
        return out
    features, _ = propensity.customer_features(c, data.daily)
    figures, calibration = propensity.evaluate_propensity(model, features, c)
    return {**figures, "calibration": calibration.to_dict("records")}


def train_all(
    data: Dataset,
    directory: Path,
    *,
    seed: int = 0,
    k: int | None = None,
    step: Callable[[str], None] = lambda name: None,
) -> list[Artifact]:
    saved = []
    step("segmentation")
    seg = segmentation.fit_segments(data.shapes, k=k, seed=seed)
    saved.append(
        save_model(
            directory,
            "segmentation",
            seg,
            features=segmentation.FEATURES,
            parameters={"k": seg.k, "silhouettes": seg.silhouettes, "seed": seed},
            data_digest=data_hash(data.shapes),
            evaluation=_evaluate("segmentation", seg, data),
        )
    )
    step("anomaly")
    det = anomaly.fit_detector(data.daily, seed=seed)
    evaluation = _evaluate("anomaly", det, data)
    cycle = dict(zip(data.customers["customer_id"], data.customers["billing_cycle_day"], strict=True))
    tariff = dict(zip(data.customers["customer_id"], data.customers["tariff"], strict=True))
    errors = mid_cycle_errors(data.daily, billing_cycle_day=cycle, tariff=tariff)
    evaluation["bill_projection_mid_cycle_mape"] = float(errors["ape"].mean()) if len(errors) else None
    saved.append(
        save_model(
            directory,
            "anomaly",
            det,
            features=anomaly.FEATURES,
            parameters={"threshold": det.threshold, "strong_threshold": det.strong_threshold, "seed": seed},
            data_digest=data_hash(data.daily),
            evaluation=evaluation,
        )
    )
    features, _ = propensity.customer_features(data.customers, data.daily)
    for name in ("dr_enrolment", "dr_response", "churn"):
        step(name)
        model, figures, calibration = propensity.train_propensity(name, features, data.customers, seed=seed)
        saved.append(
            save_model(
                directory,
                name,
                model,
                features=propensity.FEATURES,
                parameters={**propensity.PARAMS, "seed": seed, "holdout_share": propensity.HOLDOUT_SHARE},
                data_digest=data_hash(features),
                evaluation={**figures, "calibration": calibration.to_dict("records")},
            )
        )
    return saved


FEATURES_OF = {
    "segmentation": segmentation.FEATURES,
    "anomaly": anomaly.FEATURES,
    "dr_enrolment": propensity.FEATURES,
    "dr_response": propensity.FEATURES,
    "churn": propensity.FEATURES,
}


def evaluate_saved(
    data: Dataset, directory: Path, name: str, version: int | None = None
) -> tuple[Artifact, dict[str, Any]]:
    model, artifact = load_model(directory, name, features=FEATURES_OF[name], version=version)
    return artifact, _evaluate(name, model, data)
