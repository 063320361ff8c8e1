"""The outages projection: incidents deduplicated by transformer or feeder within the window, scopes
merged, ETRs and restorations applied to the whole (deduplicated) incident."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import get_settings
from gridjourney.events.store import EventStore
from gridjourney.incidents.queries import Incident, canonical_incident_id, get_incident
from gridjourney.projections.runner import apply_events
from tests.events.builders import BASE_TIME
from tests.incidents.builders import customer, outage
from tests.projections.helpers import dump, project

WINDOW_MINUTES = int(get_settings().outage_dedup_window / timedelta(minutes=1))


async def incident(engine: AsyncEngine, incident_id: str) -> Incident:
    async with engine.connect() as conn:
        found = await get_incident(conn, incident_id)
    assert found is not None, incident_id
    return found


async def canonical(engine: AsyncEngine, incident_id: str) -> str | None:
    async with engine.connect() as conn:
        return await canonical_incident_id(conn, incident_id)


async def test_an_incident_on_a_transformer_or_feeder_of_an_open_one_within_the_window_shares_its_id(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"], feeder_ids=["F-1"], cause="storm"),
        outage("outage.detected", "o-2", 4, transformer_ids=["T-1"]),
        outage("outage.detected", "o-3", 5, feeder_ids=["F-1", "F-2"]),
        outage("outage.detected", "o-5", 6, transformer_ids=["T-2"], premise_ids=["P-1"]),  # elsewhere
        outage("outage.detected", "o-6", 7, premise_ids=["P-9"]),  # premises alone: by id only
        # within the window of o-2 (itself o-1), though not of o-1
        outage("outage.detected", "o-7", WINDOW_MINUTES + 3, transformer_ids=["T-1"]),
        outage("outage.detected", "o-4", 2 * WINDOW_MINUTES + 4, transformer_ids=["T-1"]),  # too late
    )

    assert await canonical(engine, "o-1") == "o-1"
    assert await canonical(engine, "o-2") == "o-1"
    assert await canonical(engine, "o-3") == "o-1"
    assert await canonical(engine, "o-4") == "o-4"
    assert await canonical(engine, "o-5") == "o-5"
    assert await canonical(engine, "o-6") == "o-6"
    assert await canonical(engine, "o-7") == "o-1"
    assert await canonical(engine, "o-unknown") is None
    first = await incident(engine, "o-1")
    assert (first.transformer_ids, first.feeder_ids, first.cause) == (["T-1"], ["F-1"], "storm")
    assert first.detected_at == BASE_TIME and first.open


async def test_a_premise_incident_and_a_feeder_or_transformer_incident_covering_it_are_one_either_way(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        customer("c-2", "P-2", "T-2", "F-1"),
        customer("c-3", "P-3", "T-3", "F-2"),
        customer("c-4", "P-4", "T-4", "F-3"),
        # premises first, then the feeder they are on
        outage("outage.detected", "p-first", 0, premise_ids=["P-1"]),
        outage("outage.detected", "f-then", 3, feeder_ids=["F-1"]),
        # a transformer first, then a premise on it (and one elsewhere, nowhere near: P-9 is unknown)
        outage("outage.detected", "t-first", 5, transformer_ids=["T-3"]),
        outage("outage.detected", "p-then", 6, premise_ids=["P-9", "P-3"]),
        # two premise reports with a premise in common
        outage("outage.detected", "p-a", 7, premise_ids=["P-4", "P-8"]),
        outage("outage.detected", "p-b", 8, premise_ids=["P-7", "P-8"]),
        # a premise on F-3 is not on F-2 or T-3: its own incident
        outage("outage.detected", "p-apart", 9, premise_ids=["P-4"], feeder_ids=["F-9"]),
        # a premise on F-1 reported after the window: its own incident
        outage("outage.detected", "p-late", 2 * WINDOW_MINUTES + 10, premise_ids=["P-2"]),
    )

    assert await canonical(engine, "p-first") == "p-first"
    assert await canonical(engine, "f-then") == "p-first"
    assert await canonical(engine, "t-first") == "t-first"
    assert await canonical(engine, "p-then") == "t-first"
    assert await canonical(engine, "p-b") == "p-a"
    assert await canonical(engine, "p-apart") == "p-a"  # P-4 in common with p-a
    assert await canonical(engine, "p-late") == "p-late"


async def test_premises_alone_on_one_feeder_are_not_one_incident_nor_a_customer_on_another_feeder(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        customer("c-2", "P-2", "T-2", "F-1"),
        customer("c-3", "P-3", "T-3", "F-2"),
        # neighbours on F-1, each reported alone: nothing names F-1, so nothing says they are one fault
        outage("outage.detected", "p-1", 0, premise_ids=["P-1"]),
        outage("outage.detected", "p-2", 1, premise_ids=["P-2"]),
        outage("outage.detected", "f-2", 2, feeder_ids=["F-2"]),  # P-1 and P-2 are not on F-2
        outage("outage.detected", "p-3", 3, premise_ids=["P-3"], transformer_ids=["T-7"]),
    )

    assert [await canonical(engine, i) for i in ("p-1", "p-2", "f-2", "p-3")] == ["p-1", "p-2", "f-2", "f-2"]


async def test_a_premise_incident_after_its_feeder_incident_was_restored_is_a_new_incident(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        outage("outage.detected", "f-1", 0, feeder_ids=["F-1"]),
        outage("outage.restored", "f-1", 1, restored_at=(BASE_TIME + timedelta(minutes=1)).isoformat()),
        outage("outage.detected", "p-1", 2, premise_ids=["P-1"]),
    )

    assert await canonical(engine, "p-1") == "p-1"


async def test_an_incident_restored_before_the_next_one_is_detected_is_not_its_duplicate(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"]),
        outage("outage.restored", "o-1", 1, restored_at=(BASE_TIME + timedelta(minutes=1)).isoformat()),
        outage("outage.detected", "o-2", 2, transformer_ids=["T-1"]),
    )

    assert await canonical(engine, "o-2") == "o-2"
    # o-1 reported again late (another event id): merged, still restored
    await project(engine, outage("outage.detected", "o-1", 3, transformer_ids=["T-1"], cause="storm"))
    late = await incident(engine, "o-1")
    assert (late.cause, late.restored_at) == ("storm", BASE_TIME + timedelta(minutes=1))


async def test_the_same_incident_detected_again_adds_to_its_scope_and_keeps_its_id(
    engine: AsyncEngine,
) -> None:
    etr = BASE_TIME + timedelta(hours=3)
    await project(
        engine,
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"]),
        outage("outage.detected", "o-2", 1, transformer_ids=["T-1"]),
        # o-2 again, now also on F-7: it stays a duplicate of o-1
        outage("outage.detected", "o-2", 2, feeder_ids=["F-7"], premise_id="P-3", etr=etr.isoformat()),
    )

    again = await incident(engine, "o-2")
    assert (again.canonical_incident_id, again.transformer_ids, again.feeder_ids) == ("o-1", ["T-1"], ["F-7"])
    assert (again.premise_ids, again.etr, again.detected_at) == (
        ["P-3"],
        etr,
        BASE_TIME + timedelta(minutes=1),
    )


async def test_an_etr_update_applies_to_every_open_incident_of_the_deduplicated_incident(
    engine: AsyncEngine,
) -> None:
    etr = BASE_TIME + timedelta(hours=2)
    await project(
        engine,
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"]),
        outage("outage.detected", "o-2", 1, transformer_ids=["T-1"]),
        outage("outage.detected", "o-3", 2, transformer_ids=["T-3"]),
        outage("outage.etr_updated", "o-2", 3, etr=etr.isoformat()),
        outage("outage.etr_updated", "o-unknown", 4, etr=etr.isoformat()),  # ignored
    )

    assert (await incident(engine, "o-1")).etr == etr
    assert (await incident(engine, "o-2")).etr == etr
    assert (await incident(engine, "o-3")).etr is None


async def test_restoring_transformers_restores_their_customers_premises_then_the_rest_ends_it(
    engine: AsyncEngine,
) -> None:
    restored_at = (BASE_TIME + timedelta(hours=1)).isoformat()
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        customer("c-2", "P-2", "T-1", "F-1"),
        customer("c-3", "P-3", "T-2", "F-1"),
        outage("outage.detected", "o-1", 1, feeder_ids=["F-1"]),
        outage("outage.restored", "o-1", 2, transformer_ids=["T-1"], restored_at=restored_at),
    )

    partly = await incident(engine, "o-1")
    assert (partly.restored_premise_ids, partly.open) == (["P-1", "P-2"], True)

    await project(engine, outage("outage.restored", "o-1", 3, premise_ids=["P-3"], restored_at=restored_at))

    whole = await incident(engine, "o-1")
    assert whole.restored_premise_ids == ["P-1", "P-2", "P-3"]
    assert whole.restored_at == BASE_TIME + timedelta(hours=1)  # every premise on F-1 is back


async def test_a_restoration_naming_nothing_or_the_whole_scope_ends_the_deduplicated_incident(
    engine: AsyncEngine,
) -> None:
    restored_at = (BASE_TIME + timedelta(hours=1)).isoformat()
    await project(
        engine,
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"]),
        outage("outage.detected", "o-2", 1, transformer_ids=["T-1"]),
        outage("outage.detected", "o-3", 2, transformer_ids=["T-3"], premise_ids=["P-8"]),
        outage("outage.restored", "o-2", 3, restored_at=restored_at),
        outage(
            "outage.restored", "o-3", 4, transformer_ids=["T-3"], premise_ids=["P-8"], restored_at=restored_at
        ),
    )

    for incident_id in ("o-1", "o-2", "o-3"):
        assert (await incident(engine, incident_id)).restored_at == BASE_TIME + timedelta(hours=1)


async def test_folding_the_outages_again_changes_nothing(engine: AsyncEngine) -> None:
    restored_at = (BASE_TIME + timedelta(hours=1)).isoformat()
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        outage("outage.detected", "o-1", 0, transformer_ids=["T-1"]),
        outage("outage.detected", "o-2", 1, transformer_ids=["T-1"], premise_ids=["P-5"]),
        outage("outage.detected", "o-1", 2, feeder_ids=["F-1"]),
        outage("outage.etr_updated", "o-1", 3, etr=(BASE_TIME + timedelta(hours=2)).isoformat()),
        outage("outage.restored", "o-1", 4, premise_ids=["P-1"], restored_at=restored_at),
    )
    before = await dump(engine)
    assert len(before["outages"]) == 2

    batch = await EventStore(engine).read_after(0, limit=100)
    async with engine.begin() as conn:
        await apply_events(conn, batch)

    assert await dump(engine) == before


async def test_a_transformer_on_a_feeder_out_and_a_feeder_over_a_transformer_out_are_one_incident(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        customer("c-1", "P-1", "T-1-1", "F-1"),
        customer("c-2", "P-2", "T-1-2", "F-1"),
        customer("c-3", "P-3", "T-2-1", "F-2"),
        customer("c-4", "P-4", "T-3-1", "F-3"),
        # the feeder first, then a transformer on it
        outage("outage.detected", "inc-a", 0, feeder_ids=["F-1"]),
        outage("outage.detected", "inc-b", 1, transformer_ids=["T-1-1"]),
        # a transformer first, then the feeder over it
        outage("outage.detected", "inc-c", 2, transformer_ids=["T-2-1"]),
        outage("outage.detected", "inc-d", 3, feeder_ids=["F-2", "F-9"]),
        # a transformer on another feeder is not contained in either
        outage("outage.detected", "inc-e", 4, transformer_ids=["T-3-1"]),
        # a transformer nobody is known on: by name only
        outage("outage.detected", "inc-f", 5, transformer_ids=["T-7"]),
    )

    assert [await canonical(engine, i) for i in ("inc-a", "inc-b", "inc-c", "inc-d", "inc-e", "inc-f")] == [
        "inc-a",
        "inc-a",
        "inc-c",
        "inc-c",
        "inc-e",
        "inc-f",
    ]


async def test_restoring_the_feeder_incident_ends_the_transformer_incident_on_it(engine: AsyncEngine) -> None:
    restored_at = (BASE_TIME + timedelta(hours=1)).isoformat()
    await project(
        engine,
        customer("c-1", "P-1", "T-1-1", "F-1"),
        customer("c-2", "P-2", "T-1-2", "F-1"),
        outage("outage.detected", "inc-a", 0, feeder_ids=["F-1"]),
        outage("outage.detected", "inc-b", 1, transformer_ids=["T-1-1"]),
        outage("outage.restored", "inc-a", 2, feeder_ids=["F-1"], restored_at=restored_at),
    )

    for incident_id in ("inc-a", "inc-b"):
        assert (await incident(engine, incident_id)).restored_at == BASE_TIME + timedelta(hours=1)
