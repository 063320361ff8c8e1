"""Propensity models against the simulator's true probabilities: the oracle AUC and Brier score beside
the model's, on held-out customers; real labels (no true probability) give no oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridjourney.scoring import propensity
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.plots import propensity_legend


@pytest.mark.parametrize("name", ["dr_enrolment", "dr_response", "churn"])
def test_the_model_is_measured_beside_the_oracle(dataset: Dataset, name: str) -> None:
    features, _ = propensity.customer_features(dataset.customers, dataset.daily)
    model, figures, _ = propensity.train_propensity(name, features, dataset.customers)
    assert 0.5 < figures["oracle_roc_auc"] <= 1.0
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
    real = dataset.customers.drop(columns=list(propensity.TRUE_PROBABILITIES.values()))
    _, figures, _ = propensity.train_propensity("churn", features, real)
    assert "oracle_roc_auc" not in figures and "oracle_brier" not in figures
    assert "oracle" not in propensity_legend(figures) and "AUC " in propensity_legend(figures)


def test_the_oracle_is_the_true_probabilities_auc() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 2000)
    labels = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(2000)], "churn_risk": p, "churned": rng.random(2000) < p}
    )
    figures = propensity.oracle_figures("churn", labels, pd.Index(labels["customer_id"]))
    # Labels drawn from uniform probabilities: AUC 5/6 and Brier 1/6 in expectation.
    assert abs(figures["oracle_roc_auc"] - 5 / 6) < 0.03
    assert abs(figures["oracle_brier"] - 1 / 6) < 0.01
    assert "oracle 0.8" in propensity_legend({"roc_auc": 0.7, "brier": 0.2, **figures})
