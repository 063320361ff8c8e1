"""Resolving a cohort audience into cohort_members, against real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cohorts.audience import ANALYZED_FROM, BadCohortInput, resolve_audience
from gridjourney.db.tables import cohort_members, cohort_runs, customer_programs, customers
from gridjourney.dr.like_days import LikeDayRule
from gridjourney.dr.target import baseline_spans, window_loads_kw
from gridjourney.dsl.schema import AudienceSpec
from gridjourney.metering.store import copy_reads
from gridjourney.workflows.assignment import unit_interval
from gridjourney.workflows.cohort_contracts import ResolveAudienceInput
from tests.cohorts.support import add_customers

EVENT_START = datetime(2026, 7, 15, 17, tzinfo=UTC)  # a Wednesday
EVENT_END = EVENT_START + timedelta(hours=2)


def _request(run_id: str, audience: dict[str, object], **subject: object) -> ResolveAudienceInput:
    return ResolveAudienceInput(
        run_id=run_id,
        journey_id="j",
        version=1,
        cohort_key=run_id,
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec.model_validate(audience),
        subject=subject,
        first_step="notice",
        track="t1",
    )


async def _members(engine: AsyncEngine, run_id: str) -> list[tuple[str, int, bool, str | None]]:
    c = cohort_members.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(c.customer_id, c.member_no, c.holdout, c.step_id)
            .where(c.run_id == run_id)
            .order_by(c.member_no)
        )
        return [(row.customer_id, row.member_no, row.holdout, row.step_id) for row in rows]


async def test_program_members_filtered_by_where_with_a_stable_holdout(engine: AsyncEngine) -> None:
    await add_customers(
        engine, 200, program="ptr", attributes=lambda i: {"segment": "sme" if i % 4 == 0 else "home"}
    )
    await add_customers(engine, 30, prefix="x", program="other")
    request = _request(
        "cohort:j:dr-1",
        {"program": "event.program", "where": "customer.segment == 'home'", "holdout": 0.2},
        program="ptr",
    )
    outcome = await resolve_audience(engine, request)
    members = await _members(engine, "cohort:j:dr-1")
    assert outcome.members == len(members) == 150
    assert [m[1] for m in members] == list(range(150))  # member_no 0..n-1
    assert all(m[0].startswith("c-") and int(m[0][2:]) % 4 != 0 for m in members)
    assert all(m[3] == "notice" for m in members)
    assert 15 <= outcome.holdout <= 45 and outcome.holdout == sum(m[2] for m in members)

    # a retry (the activity ran again after a crash) resolves nothing twice
    again = await resolve_audience(engine, request)
    assert (again.members, again.holdout) == (outcome.members, outcome.holdout)
    assert await _members(engine, "cohort:j:dr-1") == members
    async with engine.connect() as conn:
        status = (
            await conn.execute(select(cohort_runs.c.status).where(cohort_runs.c.run_id == "cohort:j:dr-1"))
        ).scalar()
    assert status == "running"

    # the holdout depends on the run and the customer only
    other = await resolve_audience(
        engine, _request("cohort:j:dr-1b", request.audience.model_dump(), program="ptr")
    )
    assert other.members == 150 and other.holdout != 0


async def test_grid_members_are_those_at_the_named_premises_transformers_or_feeders(
    engine: AsyncEngine,
) -> None:
    made = await add_customers(engine, 40, transformers=4)
    outcome = await resolve_audience(
        engine,
        _request(
            "cohort:j:inc-1",
            {"grid": True, "holdout": 0.3},
            transformer_ids=["t-1"],
            premise_ids=["p-c-2"],
            feeder_ids=[],
        ),
    )
    expected = sorted(c.customer_id for c in made if c.transformer_id == "t-1" or c.premise_id == "p-c-2")
    assert outcome.members == len(expected) == 11
    members = await _members(engine, "cohort:j:inc-1")
    assert [m[0] for m in members] == expected  # member_no in customer id order
    # the holdout hashed in SQL is the one workflows/assignment.py computes
    assert [m[2] for m in members] == [
        unit_interval("holdout", "cohort:j:inc-1", m[0]) < 0.3 for m in members
    ]
    assert outcome.holdout == sum(m[2] for m in members) > 0


async def test_a_dr_target_picks_the_best_expected_reductions_until_it_is_reached(
    engine: AsyncEngine,
) -> None:
    # four customers with flat loads of 1, 2, 3 and 4 kW, dr_response 0.5 (unscored), 0.9, 0.2, 0.5
    scores = [None, 0.9, 0.2, 0.5]
    made = await add_customers(
        engine,
        4,
        program="ptr",
        attributes=lambda i: {} if scores[i] is None else {"scores": {"dr_response": scores[i]}},
    )
    hours = pd.date_range(EVENT_START - timedelta(days=30), EVENT_START, freq="h", inclusive="left")
    reads = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": c.customer_id,
                    "meter_id": f"m-{c.customer_id}",  # reads are keyed by meter
                    "read_at": hours,
                    "interval_seconds": 3600,
                    "kwh": float(i + 1),
                    "source": "test",
                }
            )
            for i, c in enumerate(made)
        ]
    )
    await copy_reads(engine, reads)
    # expected reductions: 0.5 x 1 = 0.5, 0.9 x 2 = 1.8, 0.2 x 3 = 0.6, 0.5 x 4 = 2.0
    outcome = await resolve_audience(
        engine,
        _request(
            "cohort:j:dr-t",
            {"program": "event.program", "target": {"kw": "event.target_kw"}},
            program="ptr",
            target_kw=3.5,
            start=EVENT_START.isoformat(),
            end=EVENT_END.isoformat(),
        ),
    )
    members = await _members(engine, "cohort:j:dr-t")
    assert [m[0] for m in members] == [made[3].customer_id, made[1].customer_id]
    assert (outcome.target_kw, outcome.expected_kw) == (3.5, 3.8)


def test_the_expected_window_load_is_the_like_day_baseline() -> None:
    hours = pd.date_range(EVENT_START - timedelta(days=20), EVENT_START, freq="h", inclusive="left")
    # 5 kWh at 17:00 and 18:00 UTC on every day, 1 kWh otherwise
    kwh = np.where(np.isin(hours.hour, [17, 18]), 5.0, 1.0)
    reads = pd.DataFrame(
        {"customer_id": "c", "meter_id": "m", "read_at": hours, "interval_seconds": 3600, "kwh": kwh}
    )
    assert window_loads_kw(reads, EVENT_START, EVENT_END, {"c": "UTC"}) == {"c": 5.0}
    # reads of the weekend only: no like day for a Wednesday event
    weekend = reads[reads["read_at"].dt.day_of_week >= 5]
    assert window_loads_kw(weekend, EVENT_START, EVENT_END, {"c": "UTC"}) == {}


async def _enrol(engine: AsyncEngine, count: int, program: str = "ptr") -> None:
    """`count` customers enrolled in `program`, written straight into the projections' tables (folding
    customer.created events is not what is tested)."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(customers),
            [
                {
                    "customer_id": f"m-{i:06d}",
                    "premise_id": f"p-{i}",
                    "transformer_id": f"t-{i // 20}",
                    "feeder_id": f"f-{i // 2000}",
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                    "last_position": 0,
                }
                for i in range(count)
            ],
        )
        await conn.execute(
            insert(customer_programs),
            [
                {"customer_id": f"m-{i:06d}", "program": program, "enrolled_at": now, "last_position": 0}
                for i in range(count)
            ],
        )


async def _planner_rows(engine: AsyncEngine) -> float:
    """What the planner believes cohort_members holds (-1: never analyzed)."""
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'cohort_members'"))
        return float(found.scalar_one())


async def test_a_program_of_thousands_resolves_into_the_members_table_with_its_holdout(
    engine: AsyncEngine,
) -> None:
    # Its speed at 100,000 members is measured by `gridjourney bench cohort`, not here.
    count = 5_000
    await _enrol(engine, count)
    outcome = await resolve_audience(
        engine, _request("cohort:j:big", {"program": "event.program", "holdout": 0.05}, program="ptr")
    )
    assert outcome.members == count
    async with engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(cohort_members))).scalar()
    assert stored == count
    assert 175 < outcome.holdout < 325  # 5 % of 5,000 is 250, give or take 5 standard deviations


async def test_a_large_run_is_analyzed_once_its_members_are_in(engine: AsyncEngine) -> None:
    # Unanalyzed, the planner took a batch's member move for the whole run and read the whole track
    # for each batch (audience_queries.refresh_member_statistics). A small run is left to autovacuum.
    await _enrol(engine, ANALYZED_FROM - 1, program="small")
    await resolve_audience(engine, _request("cohort:j:small", {"program": "event.program"}, program="small"))
    assert await _planner_rows(engine) == -1
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE customer_programs SET program = 'large'"))
        await conn.execute(
            insert(customer_programs).values(
                customer_id="m-999999", program="large", enrolled_at=datetime.now(UTC), last_position=0
            )
        )
        await conn.execute(
            insert(customers).values(
                customer_id="m-999999",
                attributes={},
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
                last_position=0,
            )
        )
    outcome = await resolve_audience(
        engine, _request("cohort:j:large", {"program": "event.program"}, program="large")
    )
    assert outcome.members == ANALYZED_FROM
    assert await _planner_rows(engine) == ANALYZED_FROM + ANALYZED_FROM - 1  # both runs' members


async def test_an_event_without_a_target_notifies_the_whole_audience(engine: AsyncEngine) -> None:
    await add_customers(engine, 5, program="ptr")
    outcome = await resolve_audience(
        engine,
        _request(
            "cohort:j:no-target",
            {"program": "event.program", "target": {"kw": "event.target_kw"}},
            program="ptr",
            target_kw=None,
            start=EVENT_START.isoformat(),
            end=EVENT_END.isoformat(),
        ),
    )
    assert (outcome.members, outcome.target_kw, outcome.expected_kw) == (5, None, None)


async def _run_row(engine: AsyncEngine, run_id: str) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(cohort_runs.c.status, cohort_runs.c.exit_reason).where(cohort_runs.c.run_id == run_id)
            )
        ).one()
    return row.status, row.exit_reason


@pytest.mark.parametrize(
    ("audience", "subject", "reason"),
    [
        (
            {"program": "event.program", "target": {"kw": "event.target_kw"}},
            {"target_kw": "lots"},
            "not a number",
        ),
        (
            {"program": "event.program", "target": {"kw": "event.target_kw"}},
            {"target_kw": 3},
            "start and end",
        ),
        ({"program": "event.plan"}, {}, "audience.program"),
    ],
    ids=["target_not_a_number", "no_start", "program_expression_fails"],
)
async def test_bad_input_fails_the_run_with_the_reason(
    engine: AsyncEngine, audience: dict[str, object], subject: dict[str, object], reason: str
) -> None:
    await add_customers(engine, 3, program="ptr")
    with pytest.raises(BadCohortInput, match=reason):
        await resolve_audience(engine, _request("cohort:j:bad", audience, program="ptr", **subject))
    status, exit_reason = await _run_row(engine, "cohort:j:bad")
    assert status == "failed"
    assert exit_reason is not None and reason in exit_reason
    assert await _members(engine, "cohort:j:bad") == []


async def test_the_expected_reduction_computed_in_groups_equals_it_computed_at_once(
    engine: AsyncEngine,
) -> None:
    rng = np.random.default_rng(3)
    responses = rng.uniform(0.05, 0.95, size=300)
    made = await add_customers(
        engine,
        300,
        program="ptr",
        attributes=lambda i: {"scores": {"dr_response": float(responses[i])}},
    )
    hours = pd.date_range(EVENT_START - timedelta(days=25), EVENT_START, freq="h", inclusive="left")
    reads = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": c.customer_id,
                    "meter_id": f"m-{c.customer_id}",
                    "read_at": hours,
                    "interval_seconds": 3600,
                    "kwh": rng.gamma(2.0, 0.5 + i / 300, size=len(hours)),
                    "source": "test",
                }
            )
            for i, c in enumerate(made)
            if i % 10 != 0  # every tenth customer has no reads: expected shed 0
        ]
    )
    await copy_reads(engine, reads)
    subject = {
        "program": "ptr",
        "target_kw": 150.0,
        "start": EVENT_START.isoformat(),
        "end": EVENT_END.isoformat(),
    }
    audience: dict[str, object] = {"program": "event.program", "target": {"kw": "event.target_kw"}}
    at_once = await resolve_audience(engine, _request("cohort:j:once", audience, **subject), 10_000)
    in_groups = await resolve_audience(engine, _request("cohort:j:groups", audience, **subject), 7)

    async def expected(run_id: str) -> list[tuple[str, int, float | None]]:
        c = cohort_members.c
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(c.customer_id, c.member_no, c.expected_kw)
                .where(c.run_id == run_id)
                .order_by(c.member_no)
            )
            return [(row.customer_id, row.member_no, row.expected_kw) for row in rows]

    picked = await expected("cohort:j:once")
    assert 30 < len(picked) < 270  # the target stops part-way: the ranking matters
    assert await expected("cohort:j:groups") == picked
    # the same as the like-day baseline of every read in memory (the lookback's other hours unread)
    zones = {c.customer_id: "UTC" for c in made}
    shed = window_loads_kw(reads.drop(columns="source"), EVENT_START, EVENT_END, zones)
    index = {c.customer_id: i for i, c in enumerate(made)}
    for customer_id, _, expected_kw in picked:
        assert expected_kw == round(responses[index[customer_id]] * shed.get(customer_id, 0.0), 4)
    assert (in_groups.members, in_groups.expected_kw) == (at_once.members, at_once.expected_kw)
    assert at_once.expected_kw is not None and at_once.expected_kw >= 150.0


def test_the_expected_window_load_skips_the_days_of_other_dr_events() -> None:
    hours = pd.date_range(EVENT_START - timedelta(days=20), EVENT_START, freq="h", inclusive="left")
    day_before = (EVENT_START - timedelta(days=1)).date()
    # 2 kWh in the event hours, but 0.0 on the day before, when another DR event was called
    kwh = np.where(np.isin(hours.hour, [17, 18]), 2.0, 1.0)
    kwh = np.where(hours.date == day_before, 0.0, kwh)
    reads = pd.DataFrame(
        {"customer_id": "c", "meter_id": "m", "read_at": hours, "interval_seconds": 3600, "kwh": kwh}
    )
    other = (EVENT_START - timedelta(days=1), EVENT_END - timedelta(days=1))
    assert window_loads_kw(reads, EVENT_START, EVENT_END, {"c": "UTC"}) == {"c": pytest.approx(1.8)}
    ruled = window_loads_kw(reads, EVENT_START, EVENT_END, {"c": "UTC"}, LikeDayRule(other_events=(other,)))
    assert ruled == {"c": 2.0}


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "UTC"])
def test_reads_outside_the_baseline_spans_do_not_change_the_expected_load(zone: str) -> None:
    # an evening event two days after the spring clock change, with 15-minute reads
    start = pd.Timestamp("2026-03-10 17:00", tz=zone).tz_convert("UTC").to_pydatetime()
    end = start + timedelta(hours=3)
    times = pd.date_range(start - timedelta(days=62), start, freq="15min", inclusive="left")
    rng = np.random.default_rng(4)
    reads = pd.DataFrame(
        {
            "customer_id": np.repeat(["a", "b"], len(times)),
            "meter_id": np.repeat(["ma", "mb"], len(times)),
            "read_at": np.tile(times, 2),
            "interval_seconds": 900,
            "kwh": rng.gamma(2.0, 0.2, size=2 * len(times)),
        }
    )
    spans = baseline_spans(start, end, {zone})
    inside = np.zeros(len(reads), dtype=bool)
    for low, high in spans:
        inside |= (reads["read_at"] >= low).to_numpy() & (reads["read_at"] < high).to_numpy()
    assert inside.mean() < 0.3  # most of the lookback is not read
    zones = {"a": zone, "b": zone}
    every = window_loads_kw(reads, start, end, zones)
    assert set(every) == {"a", "b"}
    assert window_loads_kw(reads[inside], start, end, zones) == every
