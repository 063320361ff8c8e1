"""The cohort engine's activities against real Postgres, called directly (outside a worker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.scores import Scoring
from gridjourney.cohorts.activities import CohortActivities
from gridjourney.cohorts.audience import resolve_audience
from gridjourney.db.tables import cohort_members, cohort_runs
from gridjourney.dsl.schema import AudienceSpec, BranchStep, UpdateSpec
from gridjourney.events.store import EventStore
from gridjourney.workflows.cohort_contracts import (
    CountTracksInput,
    MatchEventInput,
    MemberBatch,
    PartitionInput,
    RecordRunInput,
    ResolveAudienceInput,
    TrackSpan,
    UpdateBatchInput,
)
from tests.cohorts.support import GridCustomer, add_customers, grid_audience

RUN = "cohort:j:k"


async def _resolved(engine: AsyncEngine, count: int) -> list[GridCustomer]:
    made = await add_customers(
        engine, count, transformers=2, attributes=lambda i: {"tier": "gold" if i < 3 else "basic"}
    )
    await resolve_audience(
        engine,
        grid_audience(RUN, {"feeder_ids": ["f-1"]}),
    )
    return made


async def _places(engine: AsyncEngine) -> dict[str, tuple[str | None, str | None, str | None]]:
    c = cohort_members.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(c.customer_id, c.step_id, c.track, c.left_reason).where(c.run_id == RUN)
        )
        return {row.customer_id: (row.step_id, row.track, row.left_reason) for row in rows}


async def test_a_branch_partitions_a_batch_by_each_members_customer(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    made = await _resolved(engine, 10)
    activities = CohortActivities(engine, Scoring(engine, tmp_path))
    step = BranchStep.model_validate(
        {"id": "route", "branch": [{"when": "customer.tier == 'gold'", "goto": "gold"}, {"goto": "end"}]}
    )
    outcome = await activities.partition_batch(
        PartitionInput(
            batch=MemberBatch(run_id=RUN, step_id="route", track="t1", lo=0, hi=10),
            journey_id="j",
            step=step,
            subject={},
            tracks={"gold": "t2"},
            otherwise_step="next",
            otherwise_track="t3",
        )
    )
    places = await _places(engine)
    assert outcome.moved == {"t2": 3}
    assert {c.customer_id for c in made[:3]} == {k for k, v in places.items() if v == ("gold", "t2", None)}
    assert {k for k, v in places.items() if v == (None, "t1", "completed")} == {
        c.customer_id for c in made[3:]
    }
    sizes = await activities.count_tracks(CountTracksInput(run_id=RUN, tracks=["t1", "t2", "t3"]))
    assert sizes == {"t1": TrackSpan(), "t2": TrackSpan(members=3, lo=0, hi=3), "t3": TrackSpan()}


async def test_an_event_moves_the_members_it_names_and_an_exit_releases_the_rest(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    made = await _resolved(engine, 10)
    activities = CohortActivities(engine, Scoring(engine, tmp_path))
    moved = await activities.match_event(
        MatchEventInput(
            run_id=RUN, track="t1", transformer_ids=["t-0"], next_step="restored", next_track="t2"
        )
    )
    assert moved == TrackSpan(members=5, lo=0, hi=9)  # member_no 0, 2, 4, 6, 8
    places = await _places(engine)
    assert {places[c.customer_id] for c in made if c.transformer_id == "t-0"} == {("restored", "t2", None)}
    assert {places[c.customer_id] for c in made if c.transformer_id == "t-1"} == {("first", "t1", None)}
    # the run exits: every member still in it leaves, wherever they wait
    await activities.record_run(RecordRunInput(run_id=RUN, status="exited", exit_reason="dr.event_cancelled"))
    assert set((await _places(engine)).values()) == {(None, None, "dr.event_cancelled")}
    async with engine.connect() as conn:
        run = (await conn.execute(select(cohort_runs.c.status, cohort_runs.c.exit_reason))).one()
    assert tuple(run) == ("exited", "dr.event_cancelled")


async def test_a_partial_restoration_gives_its_new_track_the_range_of_its_own_members(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _resolved(engine, 10)
    activities = CohortActivities(engine, Scoring(engine, tmp_path))
    span = await activities.match_event(
        MatchEventInput(
            run_id=RUN, track="t1", premise_ids=["p-c-5", "p-c-6"], next_step="restored", next_track="t2"
        )
    )
    assert span == TrackSpan(members=2, lo=5, hi=7)
    assert await activities.count_tracks(CountTracksInput(run_id=RUN, tracks=["t1", "t2"])) == {
        "t1": TrackSpan(members=8, lo=0, hi=10),
        "t2": TrackSpan(members=2, lo=5, hi=7),
    }


async def test_an_update_batch_appends_one_event_per_member_even_when_retried(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    made = await _resolved(engine, 4)
    activities = CohortActivities(engine, Scoring(engine, tmp_path))
    request = UpdateBatchInput(
        batch=MemberBatch(run_id=RUN, step_id="mark", track="t1", lo=0, hi=4),
        journey_id="j",
        version=1,
        spec=UpdateSpec(attribute="last_dr_event", expression="event.dr_event_id"),
        subject={"dr_event_id": "dr-9"},
        occurred_at=datetime.now(UTC),
        next_step="next",
        next_track="t2",
    )
    first = await activities.update_batch(request)
    # a retry after a crash before the move: the members are back in the track, the events are not doubled
    async with engine.begin() as conn:
        await conn.execute(cohort_members.update().values(step_id="mark", track="t1"))
    await activities.update_batch(request)
    assert first.counts == {"updated": 4} and first.moved == {"t2": 4}
    store = EventStore(engine)
    for customer in made:
        updates = [e for e in await store.read_customer(customer.customer_id) if e.type == "customer.updated"]
        assert [e.payload["attributes"] for e in updates] == [{"last_dr_event": "dr-9"}]


def _program_run(program: str, track: str) -> ResolveAudienceInput:
    return ResolveAudienceInput(
        run_id=RUN,
        journey_id="j",
        version=1,
        cohort_key="k",
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec(program="event.program", holdout=0.1),
        subject={"dr_event_id": "dr-1", "program": program},
        first_step="first",
        track=track,
    )


async def test_a_dr_event_delivered_again_adds_no_one_to_its_run(engine: AsyncEngine, tmp_path: Path) -> None:
    # A DR run's audience is picked once, at the start (a target picks part of the program). The same
    # event sent again under a new event id, or by a careless integrator naming another program,
    # must not add the rest of the program, nor another program's customers, to the run.
    first = await add_customers(engine, 3, program="ptr")
    await resolve_audience(engine, _program_run("ptr", "t1"))
    await add_customers(engine, 2, prefix="late", program="ptr")
    await add_customers(engine, 2, prefix="other", program="cpp")
    activities = CohortActivities(engine, Scoring(engine, tmp_path))

    for program, track in (("ptr", "t2"), ("cpp", "t3")):
        joined = await activities.add_members(_program_run(program, track))
        assert joined == TrackSpan()
    assert set(await _places(engine)) == {c.customer_id for c in first}


async def test_a_later_outage_report_adds_the_customers_it_names(engine: AsyncEngine, tmp_path: Path) -> None:
    made = await _resolved(engine, 4)
    later = await add_customers(engine, 2, prefix="f2")
    activities = CohortActivities(engine, Scoring(engine, tmp_path))
    request = ResolveAudienceInput(
        run_id=RUN,
        journey_id="j",
        version=1,
        cohort_key="k",
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec(grid=True),
        subject={"premise_ids": [made[0].premise_id, later[0].premise_id]},
        first_step="first",
        track="t2",
    )
    joined = await activities.add_members(request)
    assert joined.members == 1
    assert (await _places(engine))[later[0].customer_id] == ("first", "t2", None)
