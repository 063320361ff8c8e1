"""The program manager's report on a DR event: who was notified, opted out and responded, and the kW
reduction per event hour of the treated members against the holdout.

Each member's load is taken relative to their own 10-of-10 like-day baseline (dr/performance.py), so
the two groups compare even when their homes differ. The reduction in an hour is the holdout's mean
(actual - baseline) minus the treated members' mean: what the weather or the day did to both groups
cancels out. Hourly kWh are mean kW. The confidence interval is a percentile bootstrap that resamples
customers (with replacement, within each group, keeping each customer's hours together), seeded so a
report reads the same twice. Several events pool in dr/pooled.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from gridjourney.dr.performance import member_performance
from gridjourney.dr.queries import DrEventView, MemberView

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 8
# Resamples drawn at once: bounds the memory of a bootstrap over a large cohort.
CELLS_PER_CHUNK = 4_000_000


class Interval(BaseModel):
    estimate: float
    low: float = Field(description="Lower bound of the bootstrap confidence interval.")
    high: float


class HourReduction(BaseModel):
    hour_start: datetime
    treated_kw: float = Field(description="Treated members' mean load minus their baseline (kW).")
    holdout_kw: float | None = Field(description="The holdout's mean load minus its baseline (kW).")
    reduction_kw: Interval | None = Field(description="Per member: holdout minus treated (kW).")


class SegmentReduction(BaseModel):
    segment: str
    treated: int
    holdout: int
    responded: int
    holdout_responded: int = Field(description="Holdout members whose load fell as far (no message).")
    reduction_kw: Interval | None = Field(description="Per member, against the segment's holdout.")
    reduction_vs_baseline_kw: Interval | None


class DrEventReport(BaseModel):
    dr_event_id: str
    program: str
    start: datetime
    end: datetime
    status: str
    run_ids: list[str]
    members: int
    treated: int
    holdout: int
    notified: int
    opted_out: int
    measured_treated: int = Field(description="Treated members whose reads cover the window.")
    measured_holdout: int
    responded: int = Field(
        description="Treated members who used less than their baseline over the window by more than "
        "the response threshold (dr/performance.py)."
    )
    holdout_responded: int = Field(
        description="Holdout members whose load fell by the same threshold without any message: "
        "what `responded` would be by chance (out of measured_holdout)."
    )
    hours: list[HourReduction]
    reduction_kw: Interval | None = Field(description="Mean kW per treated member against the holdout.")
    reduction_vs_baseline_kw: Interval | None = Field(
        description="Mean kW per treated member below baseline."
    )
    expected_kw: float | None = Field(description="The reduction the run expected of its treated members.")
    achieved_kw: Interval | None = Field(description="reduction_kw times the treated members.")
    segments: list[SegmentReduction]
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    computed_at: datetime = Field(description="When the figures were computed from the reads.")


@dataclass
class EventData:
    """What the report of one event is computed from (gathered by dr/report_data.py)."""

    event: DrEventView
    run_ids: list[str]
    members: list[MemberView]
    window: pd.DataFrame  # dr/performance.py window_hours of the members
    notified: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)
    expected_kw: float | None = None


def _deltas(window: pd.DataFrame, customer_ids: Sequence[str]) -> pd.DataFrame:
    """customers x event hours of actual - baseline (kWh in an hour = mean kW)."""
    own = window[window["customer_id"].isin(list(customer_ids))]
    delta = own["actual_kwh"] - own["baseline_kwh"]
    return delta.groupby([own["customer_id"], own["hour_start"]]).sum().unstack("hour_start")


def _bootstrap_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RESAMPLES x columns: the column means of customers drawn with replacement."""
    n = len(values)
    chunk = max(1, CELLS_PER_CHUNK // max(1, n * values.shape[1]))
    means: list[np.ndarray] = []
    for done in range(0, RESAMPLES, chunk):
        draws = rng.integers(0, n, size=(min(chunk, RESAMPLES - done), n))
        means.append(values[draws].mean(axis=1))
    return np.concatenate(means)


def _interval(estimate: np.ndarray, resampled: np.ndarray) -> list[Interval]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
    return [
        Interval(estimate=float(e), low=float(lo), high=float(hi))
        for e, lo, hi in zip(estimate, low, high, strict=True)
    ]


def reduction(
    treated: np.ndarray, holdout: np.ndarray | None, seed: int = SEED
) -> tuple[list[Interval], list[Interval] | None]:
    """Per column (hour): the treated members' reduction below their baseline, and against the holdout,
    each with its bootstrap interval. Rows are customers; values are actual - baseline."""
    rng = np.random.default_rng(seed)
    treated_means = _bootstrap_means(treated, rng)
    below = _interval(-treated.mean(axis=0), -treated_means)
    if holdout is None or len(holdout) == 0:
        return below, None
    holdout_means = _bootstrap_means(holdout, rng)
    against = _interval(holdout.mean(axis=0) - treated.mean(axis=0), holdout_means - treated_means)
    return below, against


def _overall(deltas: pd.DataFrame) -> np.ndarray:
    """One column: each customer's mean over their event hours."""
    return deltas.mean(axis=1).to_numpy(dtype="float64")[:, None]


def _segment(segment: str, data: EventData, responders: set[str]) -> SegmentReduction:
    treated = [m.customer_id for m in data.members if not m.holdout and (m.segment or "-") == segment]
    holdout = [m.customer_id for m in data.members if m.holdout and (m.segment or "-") == segment]
    treated_deltas = _deltas(data.window, treated)
    holdout_deltas = _deltas(data.window, holdout)
    below: Interval | None = None
    against: Interval | None = None
    if len(treated_deltas):
        below_all, against_all = reduction(
            _overall(treated_deltas), _overall(holdout_deltas) if len(holdout_deltas) else None
        )
        below = below_all[0]
        against = against_all[0] if against_all else None
    return SegmentReduction(
        segment=segment,
        treated=len(treated),
        holdout=len(holdout),
        responded=len(responders & set(treated)),
        holdout_responded=len(responders & set(holdout)),
        reduction_kw=against,
        reduction_vs_baseline_kw=below,
    )


def build_report(data: EventData) -> DrEventReport:
    treated = [m.customer_id for m in data.members if not m.holdout]
    holdout = [m.customer_id for m in data.members if m.holdout]
    figures = member_performance(data.window)
    responders = {customer_id for customer_id, figure in figures.items() if figure.responded}
    treated_deltas = _deltas(data.window, treated)
    holdout_deltas = _deltas(data.window, holdout)
    hours: list[HourReduction] = []
    overall_below: Interval | None = None
    overall_against: Interval | None = None
    if len(treated_deltas):
        columns = list(treated_deltas.columns)
        holdout_values = holdout_deltas.reindex(columns=columns).dropna().to_numpy(dtype="float64")
        below, against = reduction(treated_deltas.to_numpy(dtype="float64"), holdout_values)
        for index, hour_start in enumerate(columns):
            hours.append(
                HourReduction(
                    hour_start=pd.Timestamp(hour_start).to_pydatetime(),
                    treated_kw=-below[index].estimate,
                    holdout_kw=float(holdout_values[:, index].mean()) if len(holdout_values) else None,
                    reduction_kw=against[index] if against else None,
                )
            )
        below_all, against_all = reduction(
            _overall(treated_deltas), _overall(holdout_deltas) if len(holdout_deltas) else None
        )
        overall_below = below_all[0]
        overall_against = against_all[0] if against_all else None
    achieved = (
        Interval(
            estimate=overall_against.estimate * len(treated),
            low=overall_against.low * len(treated),
            high=overall_against.high * len(treated),
        )
        if overall_against is not None
        else None
    )
    segments = sorted({m.segment or "-" for m in data.members})
    return DrEventReport(
        dr_event_id=data.event.dr_event_id,
        program=data.event.program,
        start=data.event.start,
        end=data.event.end,
        status=data.event.status,
        run_ids=data.run_ids,
        members=len(data.members),
        treated=len(treated),
        holdout=len(holdout),
        notified=len(data.notified),
        opted_out=len(data.opted_out),
        measured_treated=len(treated_deltas),
        measured_holdout=len(holdout_deltas),
        responded=len(responders & set(treated)),
        holdout_responded=len(responders & set(holdout)),
        hours=hours,
        reduction_kw=overall_against,
        reduction_vs_baseline_kw=overall_below,
        expected_kw=data.expected_kw,
        achieved_kw=achieved,
        segments=[_segment(segment, data, responders) for segment in segments],
        computed_at=datetime.now(UTC),
    )
