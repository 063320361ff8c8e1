"""Program enrolments: enrolled customers are members until they leave or are erased."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.projections.programs import program_members, programs_of
from gridjourney.projections.runner import apply_events
from tests.events.builders import BASE_TIME, new_event
from tests.projections.helpers import dump, project, rows


async def test_enrolments_follow_enrolled_unenrolled_and_erased(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("program.enrolled", "c-1", {"program": "ptr"}),
        new_event("program.enrolled", "c-1", {"program": "ev-smart"}, minute=1),
        new_event("program.enrolled", "c-2", {"program": "ptr"}, minute=2),
        new_event("program.enrolled", "c-3", {"program": "ptr"}, minute=3),
        new_event("program.enrolled", "c-2", {"program": "ptr"}, minute=4),  # again: still one row
        new_event("program.unenrolled", "c-3", {"program": "ptr"}, minute=5),
        new_event("program.unenrolled", "c-4", {"program": "ptr"}, minute=6),  # never enrolled
        new_event("customer.erased", "c-1", {}, minute=7),
    )

    async with engine.connect() as conn:
        assert await program_members(conn, "ptr") == ["c-2"]
        assert await program_members(conn, "ev-smart") == []  # c-1 was erased
        assert await programs_of(conn, ["c-1", "c-2", "c-3"]) == {"c-2": {"ptr"}}
    [row] = await rows(engine, "customer_programs")
    assert row["enrolled_at"] == BASE_TIME + timedelta(minutes=2)  # the first enrolment's date is kept


async def test_a_customer_who_left_can_enrol_again(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("program.enrolled", "c-1", {"program": "ptr"}),
        new_event("program.unenrolled", "c-1", {"program": "ptr"}, minute=1),
        new_event("program.enrolled", "c-1", {"program": "ptr"}, minute=2),
    )

    async with engine.connect() as conn:
        assert await program_members(conn, "ptr") == ["c-1"]
        assert await programs_of(conn, ["c-1"]) == {"c-1": {"ptr"}}


async def test_folding_the_same_enrolments_again_changes_nothing(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("program.enrolled", "c-1", {"program": "ptr"}),
        new_event("program.enrolled", "c-2", {"program": "ptr"}, minute=1),
        new_event("program.unenrolled", "c-2", {"program": "ptr"}, minute=2),
    )
    before = await dump(engine)

    batch = await EventStore(engine).read_after(0, limit=100)
    async with engine.begin() as conn:
        await apply_events(conn, batch)

    assert await dump(engine) == before
    assert [row[:2] for row in before["customer_programs"]] == [("c-1", "ptr")]
