"""The DR target's expected reduction (cohorts/audience.py picks members by it): each customer's
DR-response propensity times the load they can shed over the event window, that load being their
10-of-10 like-day baseline of the event hours (dr/performance.py, the same rule as the achieved
reduction of the report)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from gridjourney.cohorts.queries import NewMember
from gridjourney.dr.like_days import LikeDayRule
from gridjourney.dr.performance import DEFAULT_RULE, full_hours, window_hours
from gridjourney.dsl.schema import TargetSpec
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS, event_day_hours

DEFAULT_DR_RESPONSE = 0.5  # the propensity of a customer never scored: no better guess than a coin


@dataclass(frozen=True)
class Expectation:
    dr_response: float
    shed_kw: float

    @property
    def reduction_kw(self) -> float:
        return self.dr_response * self.shed_kw


def pick_until_target(
    members: list[NewMember],
    expectations: dict[str, Expectation],
    target: TargetSpec,
    target_kw: float | None,
) -> tuple[list[NewMember], float]:
    """The members, best first by `target.rank_by`, until the treated members' expected reduction
    reaches `target_kw` (None: all of them), each with its expected kW; and that expected total.
    Holdout members come along in rank order (they are measured) but add nothing to the total."""
    none = Expectation(DEFAULT_DR_RESPONSE, 0.0)

    def rank(member: NewMember) -> tuple[float, str]:
        expected = expectations.get(member.customer_id, none)
        value = {
            "expected_reduction": expected.reduction_kw,
            "dr_response": expected.dr_response,
            "expected_shed": expected.shed_kw,
        }[target.rank_by]
        return (-value, member.customer_id)

    picked: list[NewMember] = []
    total = 0.0
    for member in sorted(members, key=rank):
        if target_kw is not None and total >= target_kw:
            break
        reduction = expectations.get(member.customer_id, none).reduction_kw
        picked.append(
            NewMember(**{**member.__dict__, "expected_kw": round(reduction, 4)})  # frozen: a new one
        )
        if not member.holdout:
            total += reduction
    return picked, round(total, 4)


def baseline_spans(start: datetime, end: datetime, time_zones: set[str]) -> list[tuple[datetime, datetime]]:
    """The spans of the lookback whose reads the baseline can use: the event's local clock hours on
    every day before it, an hour wider on each side (a DST change moves them by one). A read counts
    in the hour it starts in (metering/features.py `hourly_kwh`), so no other read changes the
    result, and a day's 3 event hours load an eighth of its reads."""
    spans: list[tuple[datetime, datetime]] = []
    for zone in sorted(time_zones):
        parts = event_day_hours(start, end, zone)
        first = min(hour for _, hours in parts for hour in hours)
        last = max(hour for _, hours in parts for hour in hours)
        for back in range(MAX_LOOKBACK_DAYS + 2):
            day = pd.Timestamp(parts[0][0] - timedelta(days=back))
            low = (day + pd.Timedelta(hours=first - 1)).tz_localize(
                zone, ambiguous=True, nonexistent="shift_backward"
            )
            high = (day + pd.Timedelta(hours=last + 2)).tz_localize(
                zone, ambiguous=False, nonexistent="shift_forward"
            )
            spans.append((low.to_pydatetime(), high.to_pydatetime()))
    return sorted(spans)


def window_loads_kw(
    reads: pd.DataFrame,
    start: datetime,
    end: datetime,
    time_zones: dict[str, str],
    rule: LikeDayRule = DEFAULT_RULE,
) -> dict[str, float]:
    """Each customer's expected load over the event window (mean kW of the event hours) by the 10-of-10
    like-day baseline (like days chosen by `rule`, as the report chooses them for the achieved
    reduction): the load a responder can shed. Customers without like days are absent.

    The baseline is dr/performance.py's, computed for all customers at once beside the event day's
    reads; before the event there are none, so the event hours are given as zero reads and the
    baseline is read off them.
    """
    if reads.empty:
        return {}
    customers = reads["customer_id"].unique()
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(end), freq="h", inclusive="left")
    placeholder = pd.DataFrame(
        {
            "customer_id": np.repeat(customers, len(hours)),
            "meter_id": "expected",
            "read_at": np.tile(hours, len(customers)),
            "interval_seconds": 3600,
            "kwh": 0.0,
        }
    )
    columns = ["customer_id", "meter_id", "read_at", "interval_seconds", "kwh"]
    zones = {customer: time_zones.get(customer, "UTC") for customer in customers}
    hourly = full_hours(pd.concat([reads[columns], placeholder], ignore_index=True), zones)
    try:
        window = window_hours(hourly, start=start, end=end, time_zones=zones, rule=rule)
    except ValueError:  # a period the like-day baseline cannot judge
        return {}
    means = window.groupby("customer_id")["baseline_kwh"].mean()
    return {str(customer): float(kw) for customer, kw in means.items()}
