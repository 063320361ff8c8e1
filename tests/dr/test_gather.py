"""Gathering a report's facts from the database: the members' reads are loaded a group of customers at
a time, and a group without any reads must not spoil the others."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr import queries
from gridjourney.dr.gather import customers_per_read_load, gather, gather_facts
from gridjourney.dr.like_days import HOLIDAY_CALENDAR, NOT_LIKE_DAYS
from gridjourney.dr.report import build_report
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import ENGLAND
from tests.dr.synthetic import EVENT_END, EVENT_START, Trial, build_trial, store_trial


async def test_a_group_of_members_without_reads_beside_an_event_with_reads(engine: AsyncEngine) -> None:
    await store_trial(engine, build_trial(treated=6, holdout=6, responders=6, shed_kw=1.0))
    # A second event whose members have no reads at all: exactly one load group of them, named so
    # that they sort before the first event's members (t000.., h000..) and fill the first group.
    span_start = EVENT_START - timedelta(days=MAX_LOOKBACK_DAYS + 2)
    unread = [f"a{i:04d}" for i in range(customers_per_read_load(span_start, EVENT_END))]
    no_reads = pd.DataFrame(
        columns=["customer_id", "meter_id", "read_at", "interval_seconds", "kwh", "source"]
    )
    await store_trial(
        engine,
        Trial(treated=unread, holdout=[], responders=[], shed_kw=0.0, reads=no_reads),
        run_id="cohort:dr_event:ev-2",
        dr_event_id="ev-2",
    )

    with_reads, without = await gather(engine, ["ev-1", "ev-2"])

    assert without.window.empty
    assert set(with_reads.window["customer_id"]) == {f"t{i:03d}" for i in range(6)} | {
        f"h{i:03d}" for i in range(6)
    }
    report = build_report(with_reads)
    assert (report.measured_treated, report.measured_holdout) == (6, 6)
    assert build_report(without).measured_treated == 0


async def test_the_report_reads_the_subject_of_the_run_with_members_not_the_first_run_id(
    engine: AsyncEngine,
) -> None:
    not_like = (EVENT_START - timedelta(days=7)).date()
    terms = {HOLIDAY_CALENDAR: ENGLAND, NOT_LIKE_DAYS: [not_like.isoformat()]}
    await store_trial(engine, build_trial(treated=3, holdout=3), run_id="cohort:trial:ev-1", subject=terms)
    # A live router also routed the imported dr.event_scheduled to the shipped journey: a run with no
    # members whose id sorts first.
    async with engine.begin() as conn:
        await queries.record_imported_run(
            conn,
            {
                "run_id": "cohort:dr_event:ev-1",
                "journey_id": "dr_event",
                "version": 1,
                "cohort_key": "ev-1",
                "trigger_event_id": uuid.uuid4(),
                "status": "completed",
                "members": 0,
                "holdout": 0,
                "subject": {"dr_event_id": "ev-1"},
                "started_at": EVENT_START - timedelta(hours=2),
            },
            [],
        )

    [data], [rule] = await gather_facts(engine, ["ev-1"])

    assert (rule.holiday_calendar, rule.not_like_days) == (ENGLAND, frozenset({not_like}))
    assert len(data.members) == 6 and sorted(data.run_ids) == ["cohort:dr_event:ev-1", "cohort:trial:ev-1"]
