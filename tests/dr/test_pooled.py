"""The pooled report over several events: each event compared on its own, a customer on one side of
each comparison, the events weighted by their hours, customers resampled with all their events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from gridjourney.dr.pooled import pooled_report
from gridjourney.dr.queries import DrEventView, MemberView
from gridjourney.dr.report import EventData, build_report

DAY = datetime(2024, 3, 14, 17, tzinfo=UTC)


def event(number: int, hours: int, deltas: dict[str, float], holdout: set[str], seed: int) -> EventData:
    """An event of `hours` hours whose members' load is `deltas[customer]` kW off their 1 kW baseline
    (plus a little noise)."""
    rng = np.random.default_rng(seed)
    start = DAY + timedelta(days=number)
    hour_starts = pd.date_range(start, periods=hours, freq="h")
    rows = [
        (customer, hour, 1.0, 1.0 + delta + rng.normal(0.0, 0.01))
        for customer, delta in deltas.items()
        for hour in hour_starts
    ]
    return EventData(
        event=DrEventView(
            dr_event_id=f"ev-{number}",
            program="ptr",
            start=start,
            end=start + timedelta(hours=hours),
            signal_level=None,
            target_kw=None,
            status="scheduled",
        ),
        run_ids=[f"run-{number}"],
        members=[MemberView(customer, None, customer in holdout, "UTC") for customer in sorted(deltas)],
        window=pd.DataFrame(rows, columns=["customer_id", "hour_start", "baseline_kwh", "actual_kwh"]),
    )


def test_a_customer_treated_in_one_event_and_held_out_in_another_is_counted_per_event() -> None:
    # x sheds 2 kW when treated (event 0) and nothing when held out (event 1). Pooling per customer
    # would put x on both sides of one comparison; per event, x is on one side of each.
    treated = {f"t{i}": -0.5 for i in range(6)}
    holdout = {f"h{i}": 0.0 for i in range(6)}
    first = event(0, 2, {**treated, **holdout, "x": -2.0}, set(holdout), seed=1)
    second = event(1, 4, {**treated, **holdout, "x": 0.0}, {*holdout, "x"}, seed=2)
    pooled = pooled_report([first, second])
    assert (pooled.events, pooled.treated, pooled.holdout, pooled.both) == (2, 7, 7, 1)

    per_event = [build_report(data).reduction_kw for data in (first, second)]
    assert per_event[0] is not None and per_event[1] is not None
    weighted = (2 * per_event[0].estimate + 4 * per_event[1].estimate) / 6
    assert pooled.reduction_kw is not None
    assert pooled.reduction_kw.estimate == pytest.approx(weighted)
    # event 0: treated (6 x 0.5 + 2) / 7, holdout 0; event 1: treated 0.5, holdout 0
    assert pooled.reduction_kw.estimate == pytest.approx((2 * 5 / 7 + 4 * 0.5) / 6, abs=0.01)
    assert pooled.reduction_kw.low < pooled.reduction_kw.estimate < pooled.reduction_kw.high
    assert pooled.reduction_vs_baseline_kw is not None
    assert pooled.reduction_vs_baseline_kw.estimate == pytest.approx(pooled.reduction_kw.estimate, abs=0.01)
    assert pooled.treated_baseline_kw == pytest.approx(1.0)


def test_the_pooled_interval_covers_the_planted_reduction_and_is_seeded() -> None:
    rng = np.random.default_rng(5)
    levels = {f"t{i}": rng.normal(-0.3, 0.2) for i in range(20)} | {
        f"h{i}": rng.normal(0.0, 0.2) for i in range(30)
    }
    holdout = {customer for customer in levels if customer.startswith("h")}
    datas = [event(number, 3, levels, holdout, seed=number) for number in range(5)]
    pooled = pooled_report(datas)
    assert pooled.both == 0 and (pooled.treated, pooled.holdout) == (20, 30)
    assert pooled.reduction_kw is not None
    assert pooled.reduction_kw.low < 0.3 < pooled.reduction_kw.high
    # every customer measured in every event: the same as each customer's mean over all hours
    treated_mean = np.mean([levels[c] for c in levels if c not in holdout])
    holdout_mean = np.mean([levels[c] for c in holdout])
    assert pooled.reduction_kw.estimate == pytest.approx(holdout_mean - treated_mean, abs=0.01)
    assert pooled_report(datas) == pooled


def test_no_measured_members_no_figures() -> None:
    empty = event(0, 2, {}, set(), seed=0)
    pooled = pooled_report([empty])
    assert (pooled.treated, pooled.holdout, pooled.reduction_kw, pooled.treated_baseline_kw) == (
        0,
        0,
        None,
        None,
    )
