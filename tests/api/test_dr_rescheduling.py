"""POST /v1/events refuses a dr.event_scheduled that would reschedule a known DR event (409 naming
payload.dr_event_id); the same scheduling again is accepted, and the projection keeps the first
scheduling where the door could not see the first one yet."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.projections.dr_events import DrEventView, get_dr_event
from gridjourney.projections.runner import ProjectionRunner
from tests.api.test_events import assert_problem, event_count
from tests.api.test_grid_events_hostile import TOMORROW, grid_event, modified, scheduled

LATER = {
    "start": (TOMORROW + timedelta(hours=1)).isoformat(),
    "end": (TOMORROW + timedelta(hours=5)).isoformat(),
}


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/events", json=body, headers=headers)


async def recorded(engine: AsyncEngine) -> DrEventView:
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        event = await get_dr_event(conn, "dr-1")
    assert event is not None
    return event


def hours(event: DrEventView) -> tuple[datetime, datetime]:
    return event.start_at, event.end_at


async def test_a_second_scheduling_with_other_times_is_refused_naming_the_dr_event_id(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await post(client, admin, scheduled(signal_level=1))).status_code == 201
    first = hours(await recorded(engine))

    answer = await post(client, admin, scheduled(signal_level=1, modification_number=3, **LATER))

    problem = assert_problem(answer, 409, "payload.dr_event_id")
    assert problem["type"] == "urn:gridjourney:problem:dr-event-already-scheduled"
    assert "dr.event_modified" in problem["errors"][0]["hint"]
    assert "'dr-1'" in problem["detail"] and "'ptr'" in problem["detail"]
    assert await event_count(engine) == 1
    assert hours(await recorded(engine)) == first


async def test_another_program_level_or_target_is_refused_too(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await post(client, admin, scheduled(signal_level=1, target_kw=500))).status_code == 201
    await recorded(engine)
    for change in ({"program": "ev"}, {"signal_level": 2}, {"target_kw": 900}, {"target_kw": None}):
        answer = await post(client, admin, scheduled(**{"signal_level": 1, "target_kw": 500, **change}))
        assert_problem(answer, 409, "payload.dr_event_id")
    assert await event_count(engine) == 1


async def test_the_same_scheduling_again_is_accepted_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    original = scheduled(target_kw=500)
    assert (await post(client, admin, original)).status_code == 201
    before = await recorded(engine)

    # A new event_id, the same content and another modification number: appended, nothing changes.
    again = scheduled(target_kw=500, modification_number=2, start=original["payload"]["start"])
    again["payload"]["end"] = original["payload"]["end"]
    answer = await post(client, admin, again)

    assert answer.status_code == 201, answer.text
    assert await event_count(engine) == 2
    assert await recorded(engine) == before


async def test_a_retry_of_the_first_scheduling_after_a_modification_is_a_duplicate(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    original = scheduled()
    assert (await post(client, admin, original)).status_code == 201
    assert (await post(client, admin, modified(**LATER))).status_code == 201
    assert hours(await recorded(engine)) == (
        datetime.fromisoformat(LATER["start"]),
        datetime.fromisoformat(LATER["end"]),
    )

    answer = await post(client, admin, original)  # the same event_id: the store's idempotency answers

    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicates"] == 1
    # The same event_id with other content stays the store's event_id conflict.
    changed = {**original, "payload": {**original["payload"], **LATER}}
    assert_problem(await post(client, admin, changed), 409, "event_id")


async def test_a_batch_is_refused_whole_naming_the_rescheduling_event(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await post(client, admin, scheduled())).status_code == 201
    await recorded(engine)
    other = grid_event("outage.detected", {"incident_id": "o-1", "premise_ids": ["P-1"]})

    answer = await post(client, admin, {"events": [other, scheduled(program="ev")]})

    assert_problem(answer, 409, "events[1].payload.dr_event_id")
    assert await event_count(engine) == 1


async def test_two_schedulings_of_a_new_event_in_one_batch_must_agree(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    answer = await post(client, admin, {"events": [scheduled(), scheduled(**LATER)]})
    problem = assert_problem(answer, 409, "events[1].payload.dr_event_id")
    assert "earlier in this request" in problem["detail"]
    assert await event_count(engine) == 0

    answer = await post(client, admin, {"events": [scheduled(), scheduled()]})
    assert answer.status_code == 201, answer.text
    assert answer.json()["appended"] == 2


async def test_a_cancelled_event_is_not_scheduled_again(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    cancelled = grid_event("dr.event_cancelled", {"dr_event_id": "dr-1"})
    for event in (scheduled(), cancelled):
        assert (await post(client, admin, event)).status_code == 201
    await recorded(engine)

    problem = assert_problem(await post(client, admin, scheduled(**LATER)), 409, "payload.dr_event_id")

    assert "new dr_event_id" in problem["errors"][0]["hint"]
    assert "cancelled" in problem["detail"]


async def test_where_the_projection_lags_the_door_the_first_scheduling_wins(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    # Both pass the door: the first is not projected yet when the second arrives.
    first = scheduled(signal_level=1)
    second = scheduled(signal_level=3, modification_number=4, program="ev", **LATER)
    for event in (first, second):
        assert (await post(client, admin, event)).status_code == 201

    kept = await recorded(engine)

    assert (kept.program, kept.signal_level, kept.modification_number) == ("ptr", 1.0, 0)
    assert hours(kept) == (
        datetime.fromisoformat(first["payload"]["start"]),
        datetime.fromisoformat(first["payload"]["end"]),
    )


async def test_after_a_modification_the_first_times_under_a_new_event_id_are_refused_naming_the_now(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    original = scheduled()
    for event in (original, modified(**LATER)):
        assert (await post(client, admin, event)).status_code == 201
    await recorded(engine)

    resent = {**original, "event_id": str(uuid.uuid4())}
    problem = assert_problem(await post(client, admin, resent), 409, "payload.dr_event_id")

    assert "modification 1" in problem["detail"] and LATER["start"] in problem["detail"]
