"""The program manager's report on a simulated event with planted responders: it recovers the planted
reduction within its confidence interval, and counts who was notified, opted out and responded."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr.gather import UnknownDrEvent, gather
from gridjourney.dr.pooled import pooled_report
from gridjourney.dr.report import build_report, reduction
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from tests.dr.synthetic import EVENT_END, EVENT_START, build_trial, store_trial

RUN = "cohort:dr_event:ev-1"


async def test_recovers_the_planted_reduction(engine: AsyncEngine) -> None:
    trial = build_trial(treated=40, holdout=40, responders=30, shed_kw=0.6)
    await store_trial(engine, trial, expected_kw=20.0)
    store = EventStore(engine)
    at = EVENT_START - timedelta(hours=20)
    await store.append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="message.sent",
                customer_id=customer_id,
                occurred_at=at,
                source="test",
                payload={
                    "idempotency_key": f"{RUN}:notice:1:{customer_id}",
                    "instance_id": RUN,
                    "channel": "sms",
                },
            )
            for customer_id in trial.treated[:38]
        ]
        + [
            NewEvent(
                event_id=uuid.uuid4(),
                type="consent.changed",
                customer_id=customer_id,
                occurred_at=at + timedelta(hours=1),
                source="test",
                payload={
                    "channel": "sms",
                    "purpose": "informational",
                    "granted": False,
                    "method": "sms_stop",
                },
            )
            for customer_id in trial.treated[38:]
        ]
    )

    [data] = await gather(engine, ["ev-1"])
    report = build_report(data)
    # The true per-member reduction: 30 of 40 treated members shed 0.6 kW.
    planted = 0.6 * 30 / 40
    assert report.reduction_kw is not None
    assert report.reduction_kw.low <= planted <= report.reduction_kw.high
    assert report.reduction_kw.high - report.reduction_kw.low < 0.4
    for hour in report.hours:
        assert hour.reduction_kw is not None and hour.reduction_kw.low <= planted <= hour.reduction_kw.high
    assert len(report.hours) == 3
    # Against their own baseline the hot event day (+0.2 kW for everyone) hides part of the shed.
    assert report.reduction_vs_baseline_kw is not None
    assert abs(report.reduction_vs_baseline_kw.estimate - (planted - 0.2)) < 0.15
    assert (report.members, report.treated, report.holdout) == (80, 40, 40)
    assert (report.notified, report.opted_out) == (38, 2)
    assert (report.measured_treated, report.measured_holdout) == (40, 40)
    assert 25 <= report.responded <= 32
    assert report.expected_kw == 20.0
    assert report.achieved_kw is not None and abs(report.achieved_kw.estimate - planted * 40) < 4
    assert [s.segment for s in report.segments] == ["even", "odd"]
    assert sum(s.treated for s in report.segments) == 40

    pooled = pooled_report([data])
    assert pooled.reduction_kw is not None and pooled.reduction_kw.estimate == report.reduction_kw.estimate


async def test_no_responders_no_reduction(engine: AsyncEngine) -> None:
    await store_trial(engine, build_trial(treated=30, holdout=30, responders=0))
    report = build_report((await gather(engine, ["ev-1"]))[0])
    assert report.reduction_kw is not None and report.reduction_kw.low <= 0.0 <= report.reduction_kw.high
    assert report.responded == 0


async def test_an_unknown_event_is_refused(engine: AsyncEngine) -> None:
    try:
        await gather(engine, ["nope"])
    except UnknownDrEvent as exc:
        assert exc.dr_event_id == "nope"
    else:
        raise AssertionError("an unknown event was reported on")


def test_the_bootstrap_is_seeded_and_covers_the_difference() -> None:
    rng = np.random.default_rng(1)
    treated = rng.normal(-1.0, 0.5, (200, 2))
    holdout = rng.normal(0.0, 0.5, (200, 2))
    first = reduction(treated, holdout)
    assert first == reduction(treated, holdout)
    against = first[1]
    assert against is not None
    for interval in against:
        assert interval.low < 1.0 < interval.high and interval.low < interval.estimate < interval.high


async def test_responded_is_shown_beside_the_holdout_by_the_same_measure(engine: AsyncEngine) -> None:
    trial = build_trial(treated=20, holdout=20, responders=12, shed_kw=0.6)
    # Five holdout homes used less that evening too, without any message: chance, not response.
    reads = trial.reads
    fell = reads["customer_id"].isin(trial.holdout[:5]) & (reads["read_at"] >= EVENT_START)
    fell &= reads["read_at"] < EVENT_END
    lowered = reads.assign(kwh=(reads["kwh"] - fell * 0.6).clip(lower=0.0))
    await store_trial(engine, replace(trial, reads=lowered))
    report = build_report((await gather(engine, ["ev-1"]))[0])
    assert (report.measured_treated, report.measured_holdout) == (20, 20)
    assert 10 <= report.responded <= 13
    assert report.holdout_responded == 5
    assert sum(segment.holdout_responded for segment in report.segments) == 5
