"""DR_PERFORMANCE_BATCH over a real database: figures for members whose reads cover the window, the
others wait (or go on without figures once the workflow gives up)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from gridjourney.db.tables import cohort_members, dr_performance
from gridjourney.dr.activities import DrActivities
from gridjourney.dr.queries import performance_of
from gridjourney.workflows.cohort_contracts import DrPerformanceInput, MemberBatch
from tests.dr.synthetic import EVENT_END, EVENT_START, build_trial, store_trial

RUN = "cohort:dr_event:ev-1"


def task(*, give_up: bool = False) -> DrPerformanceInput:
    return DrPerformanceInput(
        batch=MemberBatch(run_id=RUN, step_id="perf", track="t", lo=0, hi=500),
        dr_event_id="ev-1",
        event_start=EVENT_START,
        event_end=EVENT_END,
        credit_per_kwh=0.5,
        give_up=give_up,
        next_step="thanks",
        next_track="t2",
    )


async def where(engine: AsyncEngine) -> dict[str, tuple[str | None, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cohort_members.c.customer_id, cohort_members.c.step_id, cohort_members.c.track)
        )
        return {row.customer_id: (row.step_id, row.track) for row in rows}


async def test_members_with_reads_get_figures_and_move_on(engine: AsyncEngine) -> None:
    trial = build_trial(treated=4, holdout=2, responders=2, shed_kw=1.0)
    # t003's event-day reads have not arrived: not known yet.
    reads = trial.reads
    late = (reads["customer_id"] == "t003") & (reads["read_at"] >= EVENT_START.replace(hour=0))
    await store_trial(engine, trial.__class__(**{**trial.__dict__, "reads": reads[~late]}))

    outcome = await ActivityEnvironment().run(DrActivities(engine).dr_performance_batch, task())
    assert outcome.processed == 6
    assert outcome.counts == {"measured": 5, "responded": 2, "waiting": 1}
    assert outcome.moved == {"t2": 5}
    placed = await where(engine)
    assert placed["t003"] == ("perf", "t") and placed["t000"] == ("thanks", "t2")

    async with engine.connect() as conn:
        figures = await performance_of(conn, RUN, ["t000", "t002", "t003", "h000"])
        saved = (
            await conn.execute(
                select(dr_performance.c.kwh_saved).where(dr_performance.c.customer_id == "t000")
            )
        ).scalar_one()
    assert set(figures) == {"t000", "t002", "h000"}
    # Planted: 1 kW less for 3 hours, against a baseline the hot event day raised by 0.2 kW.
    assert 2.0 < saved < 3.2
    assert figures["t000"]["responded"] is True and figures["t000"]["credit"] == round(saved * 0.5, 2)
    assert figures["t002"]["responded"] is False
    assert figures["t002"]["credit"] == 0.0  # used more than the baseline: no credit

    # A retry finds only the member still waiting; giving up moves it on without figures.
    again = await ActivityEnvironment().run(DrActivities(engine).dr_performance_batch, task())
    assert again.processed == 1 and again.counts == {"waiting": 1}
    done = await ActivityEnvironment().run(DrActivities(engine).dr_performance_batch, task(give_up=True))
    assert done.counts == {"no_reads": 1} and done.moved == {"t2": 1}
    assert (await where(engine))["t003"] == ("thanks", "t2")


async def test_heartbeats_after_each_part_of_the_members(engine: AsyncEngine) -> None:
    await store_trial(engine, build_trial(treated=60, holdout=60, responders=20))
    beats: list[object] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details[0])
    outcome = await environment.run(DrActivities(engine).dr_performance_batch, task())
    assert outcome.processed == 120
    assert beats == [50, 100, 120]  # MEMBERS_PER_HEARTBEAT at a time, each after its work
