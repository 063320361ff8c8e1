"""Quality floors of every model on a small simulation, and the refusals."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridjourney.events.types import validate_payload
from gridjourney.scoring import anomaly, propensity, segmentation
from gridjourney.scoring.bill_projection import mid_cycle_errors, project_bills
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.evaluation import evaluate_alerts
from gridjourney.scoring.events import anomaly_events
from gridjourney.scoring.registry import FeatureMismatch, load_model, save_model

ARI_FLOOR = 0.45
STEP_RECALL_FLOOR = 0.5
RULE_PRECISION_FLOOR = 0.3
IF_PRECISION_FLOOR = 0.3
IF_RECALL_FLOOR = 0.15
MAPE_BOUND = 0.10
AUC_FLOOR = 0.62


def test_segments_recover_archetypes(dataset: Dataset) -> None:
    model = segmentation.fit_segments(dataset.shapes, k=8, seed=0)
    assigned = model.assign(dataset.shapes).set_index("customer_id")["segment"]
    ari = segmentation.adjusted_rand(dataset.customers.set_index("customer_id")["archetype"], assigned)
    assert ari >= ARI_FLOOR
    assert any("Solar" in name for name in model.names)
    assert len(set(model.names)) == len(model.names)


def _cycle(data: Dataset) -> dict[str, int]:
    return dict(zip(data.customers["customer_id"], data.customers["billing_cycle_day"], strict=True))


def test_anomaly_detectors_find_planted_steps(dataset: Dataset) -> None:
    first = pd.to_datetime(dataset.daily["date"]).min().date() + timedelta(days=anomaly.MIN_HISTORY_DAYS)
    steps = dataset.anomalies[dataset.anomalies["anomaly_type"] == "step_increase"]
    rule = anomaly.rule_detect(dataset.daily, excluded=dataset.excluded, billing_cycle_day=_cycle(dataset))
    figures = evaluate_alerts(rule.alerts, steps, customers=800, days=60, evaluable_from=first)
    assert figures["recall"] >= STEP_RECALL_FLOOR
    overall = evaluate_alerts(rule.alerts, dataset.anomalies, customers=800, days=60, evaluable_from=first)
    assert overall["precision"] >= RULE_PRECISION_FLOOR
    detector = anomaly.fit_detector(dataset.daily)
    found = anomaly.detect(
        detector, dataset.daily, excluded=dataset.excluded, billing_cycle_day=_cycle(dataset)
    )
    figures = evaluate_alerts(found.alerts, dataset.anomalies, customers=800, days=60, evaluable_from=first)
    assert figures["precision"] >= IF_PRECISION_FLOOR
    assert figures["recall"] >= IF_RECALL_FLOOR
    # At most one alert per customer, type and billing period; none on a DR event day.
    assert not found.alerts.duplicated(["customer_id", "anomaly_type", "alert_date"]).any()
    assert not set(found.alerts["alert_date"]) & set(dataset.dr_days)
    for event in anomaly_events(found.alerts.head(5)):
        validate_payload(event.type, event.payload)


def test_rule_baseline_on_a_hand_made_series() -> None:
    kwh = [10.0] * 30 + [15.0, 16.0, 14.0, 20.0, 10.0]  # 14 is below 1.5 x the mean: the run breaks
    kwh += [18.0, 18.0, 18.0]  # 1.5 x the (now higher) mean is 16.25, 16.65, 17.05
    daily = pd.DataFrame(
        {
            "customer_id": "c1",
            "date": pd.date_range("2024-01-01", periods=len(kwh), freq="D"),
            "kwh": kwh,
            "baseload_kwh": 0.3,
            "peak_kw": 1.0,
            "peak_hour": 18,
            "load_factor": 0.4,
            "evening_morning_ratio": 2.0,
            "hdd": 0.0,
            "cdd": 0.0,
        }
    )
    high, run, ratio = anomaly.rule_flags(anomaly.to_matrix(daily, ["kwh"])["kwh"])
    assert ratio[0, 30] == pytest.approx(1.5)
    assert np.flatnonzero(high[0]).tolist() == [30, 31, 33, 35, 36, 37]
    assert np.flatnonzero(run[0]).tolist() == [37]  # the third day running, not earlier
    alerts = anomaly.rule_detect(daily).alerts
    assert alerts["alert_date"].tolist() == [date(2024, 2, 7)]


def test_too_little_history_gives_no_score_and_a_reason(dataset: Dataset) -> None:
    short = dataset.daily[pd.to_datetime(dataset.daily["date"]) < pd.Timestamp("2024-05-06")]
    detector = anomaly.fit_detector(dataset.daily)
    result = anomaly.detect(detector, short)
    assert result.alerts.empty
    assert len(result.skipped) == short["customer_id"].nunique()
    assert result.skipped["reason"].str.contains("needed").all()
    features, skipped = propensity.customer_features(dataset.customers, short)
    assert features.empty and len(skipped) == len(dataset.customers)
    projected = project_bills(short, as_of=date(2024, 5, 5), billing_cycle_day=_cycle(dataset))
    assert projected.projections.empty and len(projected.skipped) == short["customer_id"].nunique()


def test_bill_projection_mid_cycle_mape(dataset: Dataset) -> None:
    tariff = dict(zip(dataset.customers["customer_id"], dataset.customers["tariff"], strict=True))
    errors = mid_cycle_errors(dataset.daily, billing_cycle_day=_cycle(dataset), tariff=tariff)
    assert len(errors) > 0.8 * len(dataset.customers)
    assert errors["ape"].mean() < MAPE_BOUND


@pytest.mark.parametrize("name", ["dr_enrolment", "churn"])
def test_propensity_auc_on_held_out_customers(dataset: Dataset, name: str) -> None:
    features, _ = propensity.customer_features(dataset.customers, dataset.daily)
    _, figures, calibration = propensity.train_propensity(name, features, dataset.customers)
    assert figures["roc_auc"] >= AUC_FLOOR
    assert figures["rows"] < 0.4 * len(features)  # held-out customers only
    assert calibration["count"].sum() == figures["rows"]


def test_mismatched_feature_list_is_refused(tmp_path: Path) -> None:
    save_model(
        tmp_path,
        "churn",
        {"any": "model"},
        features=("a", "b"),
        parameters={},
        data_digest="x",
        evaluation={},
    )
    with pytest.raises(FeatureMismatch, match="retrain"):
        load_model(tmp_path, "churn", features=propensity.FEATURES)
    model, artifact = load_model(tmp_path, "churn", features=("a", "b"))
    assert model == {"any": "model"} and artifact.version == 1
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path, "churn", features=("a", "b"), version=2)


def test_a_model_saved_by_an_older_version_is_refused_with_a_reason(tmp_path: Path) -> None:
    artifact = save_model(
        tmp_path, "churn", {"any": "model"}, features=("a",), parameters={}, data_digest="x", evaluation={}
    )
    # what a LightGBM model pickled before scoring/propensity.py moved to a logistic regression holds
    (artifact.path / "model.pkl").write_bytes(b"cno_such_module_here\nLGBMClassifier\n.")
    with pytest.raises(FeatureMismatch, match=r"older version of gridjourney.*retrain"):
        load_model(tmp_path, "churn", features=("a",))


def test_held_out_customers_are_not_seen_in_training(dataset: Dataset) -> None:
    from gridjourney.scoring.training import split

    train, held_out = split(dataset)
    train_ids, held_ids = set(train.customers["customer_id"]), set(held_out.customers["customer_id"])
    assert not train_ids & held_ids
    assert train_ids | held_ids == set(dataset.customers["customer_id"])
    assert 0.2 * len(dataset.customers) < len(held_ids) < 0.4 * len(dataset.customers)
    for part, ids in ((train, train_ids), (held_out, held_ids)):
        assert set(part.daily["customer_id"]) <= ids
        assert set(part.shapes.index) <= ids
        assert set(part.anomalies["customer_id"]) <= ids
