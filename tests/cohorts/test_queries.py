"""Member-moving SQL of cohorts/queries.py against real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cohorts import queries
from gridjourney.cohorts.audience import resolve_audience
from gridjourney.db.tables import cohort_members
from gridjourney.events.types import MAX_NAMED_PREMISES
from gridjourney.workflows.cohort_contracts import MemberBatch
from tests.cohorts.support import add_customers, grid_audience

RUN = "cohort:j:k"


async def _resolved(engine: AsyncEngine, count: int) -> list[str]:
    made = await add_customers(engine, count)
    await resolve_audience(
        engine,
        grid_audience(RUN, {"feeder_ids": ["f-1"]}),
    )
    return [customer.customer_id for customer in made]


async def _rows(engine: AsyncEngine) -> dict[str, tuple[str | None, str | None, str | None, datetime | None]]:
    c = cohort_members.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(c.customer_id, c.step_id, c.track, c.left_reason, c.deferred_until).where(c.run_id == RUN)
        )
        return {
            row.customer_id: (row.step_id, row.track, row.left_reason, row.deferred_until) for row in rows
        }


async def test_a_late_batch_moves_no_member_that_left_its_track(engine: AsyncEngine) -> None:
    ids = await _resolved(engine, 4)
    async with engine.begin() as conn:
        # the run exited: every member was released, then a batch of t1 that was still running ends
        await queries.release_all(conn, RUN, "dr.event_cancelled")
        moved = await queries.move_members(conn, RUN, ids, "next", "t2", from_track="t1")
    assert moved == 0
    assert {row[:3] for row in (await _rows(engine)).values()} == {(None, None, "dr.event_cancelled")}


async def test_a_retried_batch_moves_only_the_members_still_in_its_track(engine: AsyncEngine) -> None:
    ids = await _resolved(engine, 4)
    async with engine.begin() as conn:
        assert await queries.move_members(conn, RUN, ids[:2], "next", "t2", from_track="t1") == 2
        # a second attempt of the t1 batch (or a batch of another track) names all four
        assert await queries.move_members(conn, RUN, ids, None, None, queries.FINISHED, from_track="t1") == 2
    rows = await _rows(engine)
    assert [rows[i][:3] for i in ids] == [
        ("next", "t2", None),
        ("next", "t2", None),
        (None, "t1", queries.FINISHED),  # a finished member keeps the track it finished from
        (None, "t1", queries.FINISHED),
    ]


async def test_a_retried_batch_finds_the_members_its_step_moved_on(engine: AsyncEngine) -> None:
    """An attempt died after moving members on: its retry finds them and those still waiting, no others."""
    ids = await _resolved(engine, 6)
    c = cohort_members.c
    async with engine.begin() as conn:
        numbers = dict((await conn.execute(select(c.customer_id, c.member_no).where(c.run_id == RUN))).all())
        # an earlier round of the step (it deferred the others) finished the first an hour ago
        await queries.move_members(conn, RUN, ids[:1], None, None, queries.FINISHED, from_track="t1")
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        earlier = cohort_members.update().where(c.run_id == RUN, c.customer_id == ids[0])
        await conn.execute(earlier.values(updated_at=an_hour_ago))
        await queries.move_members(conn, RUN, ids[1:3], None, None, queries.FINISHED, from_track="t1")
        await queries.move_members(conn, RUN, ids[3:4], "next", "t2", from_track="t1")
        await queries.move_members(conn, RUN, ids[4:5], None, None, "left", from_track="t1")  # another reason
        batch = MemberBatch(run_id=RUN, step_id="s", track="t1", lo=0, hi=max(numbers.values()) + 1)
        since = datetime.now(UTC) - timedelta(minutes=1)

        async def found(batch: MemberBatch, next_track: str | None, since: datetime | None) -> set[str]:
            waiting, moved = await queries.batch_members_and_moved_on(conn, batch, next_track, since=since)
            assert {m.customer_id for m in waiting} == {
                i for i in ids[5:] if batch.lo <= numbers[i] < batch.hi
            }
            return {m.customer_id for m in moved}

        assert await found(batch, None, since) == set(ids[1:3])
        assert await found(batch, None, None) == set(ids[:3])
        assert await found(batch, "t2", since) == {ids[3]}
        assert await found(batch, "t3", since) == set()
        # another batch of the track: its own range only
        other = batch.model_copy(update={"lo": numbers[ids[2]], "hi": numbers[ids[2]] + 1})
        assert await found(other, None, since) == {ids[2]}


async def test_a_late_deferral_leaves_members_that_went_on_alone(engine: AsyncEngine) -> None:
    ids = await _resolved(engine, 3)
    until = datetime.now(UTC) + timedelta(hours=8)
    async with engine.begin() as conn:
        await queries.move_members(conn, RUN, ids[:1], "next", "t2", from_track="t1")
        deferred = await queries.defer_members(conn, RUN, ids, until, from_track="t1")
    assert deferred == 2
    rows = await _rows(engine)
    assert [rows[i][3] for i in ids] == [None, until, until]


async def test_members_join_a_running_run_once_after_the_last_member_no(engine: AsyncEngine) -> None:
    ids = await _resolved(engine, 3)  # all of feeder f-1
    later = [c.customer_id for c in await add_customers(engine, 2, prefix="n")]
    joining = [
        queries.NewMember(customer_id, None, None, "f-1", None, False, None)
        for customer_id in [ids[0], *later]
    ]
    for _ in range(2):  # the activity retried after its first attempt committed
        async with engine.begin() as conn:
            span = await queries.add_members(conn, RUN, joining, "first", "t9")
        assert (span.members, span.lo, span.hi) == (2, 3, 5)
    rows = await _rows(engine)
    assert [rows[customer_id][:2] for customer_id in later] == [("first", "t9"), ("first", "t9")]
    assert rows[ids[0]][1] == "t1"  # already a member: stays where it was
    async with engine.begin() as conn:
        await queries.set_run_status(conn, RUN, "completed", exit_reason=None, subject=None)
        assert (await queries.add_members(conn, RUN, joining, "first", "t10")).members == 0


async def test_the_largest_outage_an_event_may_name_resolves_its_audience(engine: AsyncEngine) -> None:
    # An outage naming MAX_NAMED_PREMISES premises and the most transformers and feeders the events
    # door admits (events/types.py): one statement over every id, the members those places supply.
    made = await add_customers(engine, 30, transformers=3)
    premises = [made[0].premise_id, *(f"elsewhere-{i}" for i in range(MAX_NAMED_PREMISES - 1))]
    transformers = ["t-1", *(f"t-none-{i}" for i in range(999))]
    feeders = [f"f-none-{i}" for i in range(1_000)]
    outcome = await resolve_audience(
        engine,
        grid_audience(RUN, {"premise_ids": premises, "transformer_ids": transformers, "feeder_ids": feeders}),
    )
    expected = {made[0].customer_id} | {c.customer_id for c in made if c.transformer_id == "t-1"}
    assert set(await _rows(engine)) == expected
    assert outcome.members == len(expected)


async def test_a_batch_reads_its_members_with_every_field(engine: AsyncEngine) -> None:
    ids = await _resolved(engine, 2)
    later = [c.customer_id for c in await add_customers(engine, 1, prefix="n")]
    until = datetime(2026, 12, 1, 7, tzinfo=UTC)
    async with engine.begin() as conn:
        joined = [queries.NewMember(later[0], "p-9", "t-9", "f-1", "gold", True, 1.25)]
        span = await queries.add_members(conn, RUN, joined, "first", "t1")
        await queries.defer_members(conn, RUN, [ids[1]], until, from_track="t1")
        batch = MemberBatch(run_id=RUN, step_id="first", track="t1", lo=0, hi=span.hi)
        members = await queries.batch_members(conn, batch)
    assert [m.member_no for m in members] == sorted(m.member_no for m in members)
    by_id = {m.customer_id: m for m in members}
    assert sorted(by_id) == sorted([*ids, *later])
    joiner = by_id[later[0]]
    assert (joiner.premise_id, joiner.transformer_id, joiner.feeder_id) == ("p-9", "t-9", "f-1")
    assert (joiner.segment, joiner.holdout, joiner.expected_kw, joiner.deferred_until) == (
        "gold",
        True,
        1.25,
        None,
    )
    assert joiner.member_no == span.hi - 1  # the last to join
    assert by_id[ids[1]].deferred_until == until and by_id[ids[0]].deferred_until is None
    assert isinstance(joiner, queries.Member)
