"""Several DR events at once (`gridjourney dr report --all`): one reduction per kW and member over all
their event hours.

Each event is compared on its own, treated against that event's holdout, so a customer treated in
one event and held out in another is on one side of each comparison and never on both sides of one.
The per-event figures (each group's mean over its customers of their mean load relative to baseline
over the event's hours) are then averaged over the events, weighted by event hours. The interval is a
percentile bootstrap that resamples customers (with replacement, each customer with all their events,
whatever side they were on in each), so that the repeated measures of one home are not taken for
independent homes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from gridjourney.dr.report import CELLS_PER_CHUNK, CONFIDENCE, RESAMPLES, SEED, EventData, Interval


class PooledReport(BaseModel):
    events: int
    treated: int = Field(description="Customers treated in at least one measured event.")
    holdout: int = Field(description="Customers held out in at least one measured event.")
    both: int = Field(description="Customers treated in one event and held out in another.")
    reduction_kw: Interval | None
    reduction_vs_baseline_kw: Interval | None
    treated_baseline_kw: float | None = Field(description="The treated members' mean baseline (kW).")
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES


class _Panel:
    """customers x events: mean (actual - baseline) and mean baseline over the event's hours, who was
    treated (T) or held out (H) and measured, and each event's hours."""

    def __init__(self, datas: Sequence[EventData]) -> None:
        means: list[pd.DataFrame] = []
        self.hours = np.zeros(len(datas))
        for index, data in enumerate(datas):
            window = data.window
            holdout = {m.customer_id for m in data.members if m.holdout}
            members = {m.customer_id for m in data.members}
            own = window[window["customer_id"].isin(list(members))]
            self.hours[index] = own["hour_start"].nunique()
            mean = (
                own.assign(delta=own["actual_kwh"] - own["baseline_kwh"])
                .groupby("customer_id")[["delta", "baseline_kwh"]]
                .mean()
            )
            means.append(mean.assign(event=index, holdout=mean.index.isin(list(holdout))))
        joined = pd.concat(means) if means else pd.DataFrame()
        self.customers = sorted(joined.index.unique()) if not joined.empty else []
        shape = (len(self.customers), len(datas))
        self.delta = np.zeros(shape)
        self.baseline = np.zeros(shape)
        self.treated = np.zeros(shape)
        self.held = np.zeros(shape)
        if joined.empty:
            return
        rows = pd.Index(self.customers).get_indexer(joined.index)
        columns = joined["event"].to_numpy(dtype=int)
        self.delta[rows, columns] = joined["delta"].to_numpy(dtype="float64")
        self.baseline[rows, columns] = joined["baseline_kwh"].to_numpy(dtype="float64")
        in_holdout = joined["holdout"].to_numpy(dtype=bool)
        self.treated[rows[~in_holdout], columns[~in_holdout]] = 1.0
        self.held[rows[in_holdout], columns[in_holdout]] = 1.0

    def figures(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of customer weights (resamples x customers): the reduction below baseline and
        against the holdout, each averaged over the events that have the groups it needs."""
        treated_n = weights @ self.treated
        held_n = weights @ self.held
        with np.errstate(invalid="ignore", divide="ignore"):
            treated_mean = (weights @ (self.delta * self.treated)) / treated_n
            held_mean = (weights @ (self.delta * self.held)) / held_n
        below = _hour_weighted(-treated_mean, treated_n > 0, self.hours)
        against = _hour_weighted(held_mean - treated_mean, (treated_n > 0) & (held_n > 0), self.hours)
        return below, against


def _hour_weighted(values: np.ndarray, usable: np.ndarray, hours: np.ndarray) -> np.ndarray:
    weight = usable * hours
    total = weight.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = (np.where(usable, values, 0.0) * weight).sum(axis=1) / total
    return result


def _interval(estimate: float, resampled: np.ndarray) -> Interval | None:
    if np.isnan(estimate):
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.nanpercentile(resampled, [tail, 100 - tail])
    return Interval(estimate=float(estimate), low=float(low), high=float(high))


def pooled_report(datas: Sequence[EventData], seed: int = SEED) -> PooledReport:
    panel = _Panel(datas)
    n = len(panel.customers)
    treated_ever = panel.treated.any(axis=1)
    held_ever = panel.held.any(axis=1)
    below: Interval | None = None
    against: Interval | None = None
    baseline: float | None = None
    if treated_ever.any():
        [below_estimate], [against_estimate] = panel.figures(np.ones((1, n)))
        rng = np.random.default_rng(seed)
        chunk = max(1, CELLS_PER_CHUNK // max(1, n))
        below_draws: list[np.ndarray] = []
        against_draws: list[np.ndarray] = []
        for done in range(0, RESAMPLES, chunk):
            size = min(chunk, RESAMPLES - done)
            draws = rng.integers(0, n, size=(size, n))
            offsets = (np.arange(size) * n)[:, None]
            counts = np.bincount((draws + offsets).ravel(), minlength=size * n).reshape(size, n)
            below_part, against_part = panel.figures(counts.astype("float64"))
            below_draws.append(below_part)
            against_draws.append(against_part)
        below = _interval(below_estimate, np.concatenate(below_draws))
        against = _interval(against_estimate, np.concatenate(against_draws))
        with np.errstate(invalid="ignore", divide="ignore"):
            treated_baseline = (panel.baseline * panel.treated).sum(axis=0) / panel.treated.sum(axis=0)
        [baseline_value] = _hour_weighted(
            treated_baseline[None, :], panel.treated.sum(axis=0)[None, :] > 0, panel.hours
        )
        baseline = float(baseline_value)
    return PooledReport(
        events=len(datas),
        treated=int(treated_ever.sum()),
        holdout=int(held_ever.sum()),
        both=int((treated_ever & held_ever).sum()),
        reduction_kw=against,
        reduction_vs_baseline_kw=below,
        treated_baseline_kw=baseline,
    )
