"""Propensity models against the simulator's true probabilities: the oracle's and the observable
ceiling's AUC and Brier score beside the model's, with their sampling spread, on held-out customers;
real labels (no true probability) give no oracle. The features a utility has: weather slopes fitted
jointly, habits from the load shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gridjourney.scoring import propensity
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.plots import propensity_legend
from gridjourney.scoring.propensity_eval import (
    OBSERVABLE_PROBABILITIES,
    TRUE_PROBABILITIES,
    bootstrap_auc,
    oracle_figures,
)


@pytest.mark.parametrize("name", ["dr_enrolment", "dr_response", "churn"])
def test_the_model_is_measured_beside_the_oracle(dataset: Dataset, name: str) -> None:
    features, _ = propensity.customer_features(dataset.customers, dataset.daily, dataset.shapes)
    model, figures, _ = propensity.train_propensity(name, features, dataset.customers)
    assert 0.5 < figures["oracle_roc_auc"] <= 1.0
    assert figures["oracle_roc_auc_low"] < figures["oracle_roc_auc"] < figures["oracle_roc_auc_high"]
    # The gap is the oracle's AUC less the model's, its interval paired over the same resamples.
    assert figures["oracle_gap"] == pytest.approx(figures["oracle_roc_auc"] - figures["roc_auc"])
    assert figures["oracle_gap_low"] < figures["oracle_gap"] < figures["oracle_gap_high"]
    # The noise on each customer's logit is what no data shows: without it, the truth ranks worse.
    assert 0.5 < figures["observable_roc_auc"] < figures["oracle_roc_auc"]
    # The oracle knows the noise of each customer's propensity: no model ranks better than it by
    # more than the sampling noise of a few hundred held-out customers.
    assert figures["roc_auc"] <= figures["oracle_roc_auc"] + 0.05
    assert figures["roc_auc"] >= figures["oracle_roc_auc"] - 0.15
    # Brier: the true probabilities' squared error is the floor a calibrated model approaches.
    assert figures["oracle_brier"] <= figures["brier"] + 0.01
    assert figures["brier"] < figures["base_rate"] * (1 - figures["base_rate"]) + 0.005  # beats the base rate
    again, _ = propensity.evaluate_propensity(model, features, dataset.customers)
    assert again["oracle_roc_auc"] == figures["oracle_roc_auc"] and again["roc_auc"] == figures["roc_auc"]


def test_labels_without_true_probabilities_have_no_oracle(dataset: Dataset) -> None:
    features, _ = propensity.customer_features(dataset.customers, dataset.daily)
    real = dataset.customers.drop(columns=[*TRUE_PROBABILITIES.values(), *OBSERVABLE_PROBABILITIES.values()])
    _, figures, _ = propensity.train_propensity("churn", features, real)
    assert not [key for key in figures if key.startswith(("oracle", "observable"))]
    assert "oracle" not in propensity_legend(figures) and "AUC " in propensity_legend(figures)


def test_the_oracle_is_the_true_probabilities_auc() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 2000)
    labels = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(2000)], "churn_risk": p, "churned": rng.random(2000) < p}
    )
    figures = oracle_figures("churn", labels, pd.Index(labels["customer_id"]))
    # Labels drawn from uniform probabilities: AUC 5/6 and Brier 1/6 in expectation.
    assert abs(figures["oracle_roc_auc"] - 5 / 6) < 0.03
    assert abs(figures["oracle_brier"] - 1 / 6) < 0.01
    assert "oracle 0.8" in propensity_legend({"roc_auc": 0.7, "brier": 0.2, **figures})


def test_the_bootstrap_auc_is_the_auc_of_each_resample() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.4).astype(float)
    score = np.round(y + rng.normal(0, 1, 300), 1)  # rounded: ties, which share their rank
    (spread,) = bootstrap_auc(y, [score], resamples=40)
    picks = np.random.default_rng(20261130).integers(0, 300, size=(40, 300))
    expected = [roc_auc_score(y[p], score[p]) for p in picks]
    np.testing.assert_allclose(spread, expected)
    # The interval of 300 customers is wide: about 0.03 either side of the full set's AUC.
    assert 0.02 < np.std(spread) < 0.05


def test_weather_slopes_are_fitted_jointly() -> None:
    rng = np.random.default_rng(2)
    days = 90
    cdd = np.clip(rng.normal(2, 4, days), 0, None)
    hdd = np.clip(rng.normal(6, 5, days), 0, None)
    weekday = np.arange(days) % 7 < 5
    daily = pd.DataFrame(
        {
            "customer_id": ["a"] * days + ["b"] * days,
            "kwh": np.concatenate([10 + 1.5 * cdd + 0.5 * hdd + 2 * ~weekday, np.full(days, 8.0)]),
            "cdd": np.concatenate([cdd, np.zeros(days)]),  # b: no hot day at all
            "hdd": np.concatenate([hdd, hdd]),
            "is_weekday": np.concatenate([weekday, weekday]),
        }
    )
    slopes = propensity.weather_slopes(daily)
    assert slopes.loc["a", "cooling_kwh_per_degree_day"] == pytest.approx(1.5)
    assert slopes.loc["a", "heating_kwh_per_degree_day"] == pytest.approx(0.5)
    assert slopes.loc["b", "cooling_kwh_per_degree_day"] == pytest.approx(0.0, abs=1e-9)
    assert slopes.loc["b", "heating_kwh_per_degree_day"] == pytest.approx(0.0, abs=1e-9)


def test_habits_come_from_the_load_shape_and_are_missing_without_it(dataset: Dataset) -> None:
    with_shapes, _ = propensity.customer_features(dataset.customers, dataset.daily, dataset.shapes)
    shares = with_shapes[list(propensity.SHAPE_FEATURES)]
    for day in ("weekday", "weekend"):
        day_shares = shares[[c for c in shares.columns if c.startswith(f"share_{day}_")]].sum(axis=1)
        assert day_shares.between(0.9, 1.1).mean() > 0.85  # all but the solar homes' export hours
    customers = dataset.customers.set_index("customer_id").reindex(shares.index)
    night = shares["share_weekday_night"]
    assert night[customers["archetype"] == "ev_night"].median() > 2 * night.median()
    without, _ = propensity.customer_features(dataset.customers, dataset.daily)
    assert without[list(propensity.SHAPE_FEATURES)].isna().all().all()
    model, _, _ = propensity.train_propensity("dr_response", with_shapes, dataset.customers)
    assert model.score(without).between(0, 1).all()  # imputed, still a probability
