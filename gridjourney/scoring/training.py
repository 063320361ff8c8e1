"""Train, save and evaluate every model on a labelled data set (what `gridjourney models` runs).

Held-out means held out: the anomaly detector and the segments are fitted on the training customers
and evaluated on the others, with the same split by a hash of the customer id as the propensity
models (gridjourney/scoring/propensity.py).
"""

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


def split(data: Dataset) -> tuple[Dataset, Dataset]:
    """(training customers, held-out customers), each with only its own reads and truth."""
    holdout = set(data.customers["customer_id"][propensity.is_holdout(data.customers["customer_id"])])

    def part(keep: bool) -> Dataset:
        def mine(ids: pd.Series) -> pd.Series:
            return ids.isin(holdout) == (not keep)

        return Dataset(
            customers=data.customers[mine(data.customers["customer_id"])].reset_index(drop=True),
            anomalies=data.anomalies[mine(data.anomalies["customer_id"])].reset_index(drop=True),
            dr_days=data.dr_days,
            daily=data.daily[mine(data.daily["customer_id"])].reset_index(drop=True),
            shapes=data.shapes[mine(pd.Series(data.shapes.index, index=data.shapes.index))],
            days=data.days,
        )

    return part(True), part(False)


def _evaluate(name: str, model: Any, data: Dataset) -> dict[str, Any]:
    """Figures of a fitted model on `data` (held-out customers when called by train_all)."""
    c = data.customers
    if name == "segmentation":
        inputs = segmentation.segment_inputs(data.shapes, data.daily)
        assigned = model.assign(inputs).set_index("customer_id")["segment"]
        ari = segmentation.adjusted_rand(c.set_index("customer_id")["archetype"], assigned)
        return {"k": model.k, "adjusted_rand_index": ari, "segments": model.names}
    if name == "anomaly":
        cycle = dict(zip(c["customer_id"], c["billing_cycle_day"], strict=True))
        first = pd.to_datetime(data.daily["date"]).min().date() + timedelta(days=anomaly.MIN_HISTORY_DAYS)
        out: dict[str, Any] = {}
        for label, found in (
            (
                "calibrated_detector",
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
    features, _ = propensity.customer_features(c, data.daily, data.shapes)
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
    train, held_out = split(data)
    step("segmentation")
    # The segments keep the names of the model they replace (scoring/segmentation.py).
    previous = segmentation.previous_model(directory)
    seg = segmentation.fit_segments(train.shapes, train.daily, k=k, seed=seed, previous=previous)
    saved.append(
        save_model(
            directory,
            "segmentation",
            seg,
            features=segmentation.FEATURES,
            parameters={"k": seg.k, "bic": seg.bic, "seed": seed},
            data_digest=data_hash(train.shapes),
            evaluation=_evaluate("segmentation", seg, held_out),
        )
    )
    step("anomaly")
    det = anomaly.fit_detector(train.daily, seed=seed)
    evaluation = _evaluate("anomaly", det, held_out)
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
            parameters={"multipliers": det.multipliers, "quantiles": det.quantiles, "seed": seed},
            data_digest=data_hash(train.daily),
            evaluation=evaluation,
        )
    )
    features, _ = propensity.customer_features(data.customers, data.daily, data.shapes)
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
    """A saved model's figures on the held-out customers of `data` (the training ones of the same
    simulation were seen in training)."""
    model, artifact = load_model(directory, name, features=FEATURES_OF[name], version=version)
    _, held_out = split(data)
    return artifact, _evaluate(name, model, held_out)
