"""How far a propensity model is from the best possible, judged fairly on a finite held-out set.

Where the labels come with the probability they were drawn from (the simulator's ground truth), three
references are reported beside the model:
- the oracle: the true probability itself. It contains each customer's own noise on the logit, which
  nothing observable shows (gridjourney/simulate/population.py), so no model can reach it on average;
- the observable ceiling: the true probability with that noise averaged out, the best any model
  learning from attributes and reads can know;
- the sampling spread: with a few hundred held-out customers the AUC of the truth itself varies from
  one draw of customers to the next, so the oracle's AUC gets a bootstrap interval, and the model's
  gap to the oracle a paired one (the same resampled customers for both).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

TARGETS = {"dr_enrolment": "dr_enrolled", "dr_response": "dr_responder", "churn": "churned"}
# The probability each label was drawn from, and the same with the unobservable noise averaged out,
# where the data knows them (simulate/population.py).
TRUE_PROBABILITIES = {
    "dr_enrolment": "dr_enrol_propensity",
    "dr_response": "dr_response_propensity",
    "churn": "churn_risk",
}
OBSERVABLE_PROBABILITIES = {name: f"{column}_observable" for name, column in TRUE_PROBABILITIES.items()}
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20261130
INTERVAL = (2.5, 97.5)


def bootstrap_auc(
    y: npt.NDArray[np.float64], scores: list[npt.NDArray[np.float64]], *, resamples: int = BOOTSTRAP
) -> list[npt.NDArray[np.float64]]:
    """The ROC AUC of each score on the same resamples of the customers (with replacement), by the
    rank-sum formula (ties share their rank); a resample with only one class is left out."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(y), size=(resamples, len(y)))
    labels = y[picks]
    positives = labels.sum(axis=1)
    negatives = len(y) - positives
    both = (positives > 0) & (negatives > 0)
    out = []
    for score in scores:
        ranks = pd.DataFrame(score[picks]).rank(axis=1).to_numpy(dtype=np.float64)
        rank_sum = (ranks * labels).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
        out.append(np.asarray(auc[both], dtype=np.float64))
    return out


def oracle_figures(
    name: str, labels: pd.DataFrame, customers: pd.Index, model_scores: pd.Series | None = None
) -> dict[str, float]:
    """The oracle's AUC and Brier score on these customers' drawn labels with its bootstrap interval,
    the observable ceiling's, and (given the model's scores) the model's gap to the oracle with its
    paired interval; nothing when the labels do not come with their probabilities (real data)."""
    truth = TRUE_PROBABILITIES[name]
    if truth not in labels.columns:
        return {}
    frame = labels.set_index("customer_id").reindex(customers)
    frame = frame[frame[truth].notna() & frame[TARGETS[name]].notna()]
    y = frame[TARGETS[name]].to_numpy(dtype=np.float64)
    p = frame[truth].to_numpy(dtype=np.float64)
    if not 0 < y.sum() < len(y):
        return {}
    low, high = INTERVAL
    figures = {"oracle_roc_auc": float(roc_auc_score(y, p)), "oracle_brier": float(brier_score_loss(y, p))}
    scores = [p]
    observable = OBSERVABLE_PROBABILITIES[name]
    if observable in frame.columns:
        seen = frame[observable].to_numpy(dtype=np.float64)
        figures["observable_roc_auc"] = float(roc_auc_score(y, seen))
        figures["observable_brier"] = float(brier_score_loss(y, seen))
    if model_scores is not None:
        scores.append(model_scores.reindex(frame.index).to_numpy(dtype=np.float64))
    spread = bootstrap_auc(y, scores)
    figures["oracle_roc_auc_low"] = float(np.percentile(spread[0], low))
    figures["oracle_roc_auc_high"] = float(np.percentile(spread[0], high))
    if model_scores is not None:
        gap = spread[0] - spread[1]
        figures["oracle_gap"] = figures["oracle_roc_auc"] - float(roc_auc_score(y, scores[1]))
        figures["oracle_gap_low"] = float(np.percentile(gap, low))
        figures["oracle_gap_high"] = float(np.percentile(gap, high))
    return figures
