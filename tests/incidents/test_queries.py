"""Who has no power, read from the outages the projection folds: premise, transformer and feeder
scopes, partial and whole restoration; the open incident a customer is in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.incidents.queries import MAX_OUTAGE_AGE, customers_without_power, open_incident_covering
from tests.events.builders import BASE_TIME
from tests.incidents.builders import customer, outage
from tests.projections.helpers import project

EVERYONE = ["c-1", "c-2", "c-3", "c-4", "c-5", "c-none"]
RESTORED_AT = (BASE_TIME + timedelta(hours=1)).isoformat()
NOW = BASE_TIME + timedelta(hours=2)  # the events' day: their incidents are recent


async def town(engine: AsyncEngine) -> None:
    """Two feeders: F-1 serves transformers T-1 (c-1, c-2) and T-2 (c-3); F-2 serves T-3 (c-4, c-5)."""
    await project(
        engine,
        customer("c-1", "P-1", "T-1", "F-1"),
        customer("c-2", "P-2", "T-1", "F-1"),
        customer("c-3", "P-3", "T-2", "F-1"),
        customer("c-4", "P-4", "T-3", "F-2"),
        customer("c-5", "P-5", "T-3", "F-2"),
    )


async def without_power(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await customers_without_power(conn, EVERYONE, NOW)


async def test_a_premise_outage_takes_only_that_premise(engine: AsyncEngine) -> None:
    await town(engine)
    await project(engine, outage("outage.detected", "o-1", 1, premise_ids=["P-2", "P-4"]))

    assert await without_power(engine) == {"c-2", "c-4"}


async def test_a_transformer_outage_takes_its_customers(engine: AsyncEngine) -> None:
    await town(engine)
    await project(engine, outage("outage.detected", "o-1", 1, transformer_ids=["T-1"]))

    assert await without_power(engine) == {"c-1", "c-2"}
    async with engine.connect() as conn:
        assert await customers_without_power(conn, ["c-2", "c-3"], NOW) == {"c-2"}
        assert await customers_without_power(conn, [], NOW) == set()


async def test_a_feeder_outage_takes_every_transformer_on_it(engine: AsyncEngine) -> None:
    await town(engine)
    await project(engine, outage("outage.detected", "o-1", 1, feeder_ids=["F-2"]))

    assert await without_power(engine) == {"c-4", "c-5"}


async def test_a_partial_restoration_gives_power_back_to_the_premises_restored(engine: AsyncEngine) -> None:
    await town(engine)
    await project(
        engine,
        outage("outage.detected", "o-1", 1, feeder_ids=["F-1"]),
        outage("outage.restored", "o-1", 2, transformer_ids=["T-2"], restored_at=RESTORED_AT),
    )
    assert await without_power(engine) == {"c-1", "c-2"}

    await project(engine, outage("outage.restored", "o-1", 3, premise_ids=["P-1"], restored_at=RESTORED_AT))
    assert await without_power(engine) == {"c-2"}


async def test_a_whole_restoration_gives_power_back_to_everyone_in_the_incident(engine: AsyncEngine) -> None:
    await town(engine)
    await project(
        engine,
        outage("outage.detected", "o-1", 1, feeder_ids=["F-1"]),
        outage("outage.detected", "o-2", 2, transformer_ids=["T-3"]),
        outage("outage.restored", "o-1", 3, restored_at=RESTORED_AT),
    )

    assert await without_power(engine) == {"c-4", "c-5"}  # o-2 is another incident


async def test_the_open_incident_covering_a_customer_is_its_canonical_one(engine: AsyncEngine) -> None:
    await town(engine)
    await project(
        engine,
        outage("outage.detected", "o-1", 1, transformer_ids=["T-1"]),
        outage("outage.detected", "o-2", 2, feeder_ids=["F-1"], transformer_ids=["T-1"]),
        outage("outage.detected", "o-3", 3, premise_ids=["P-4"]),
        # c-1 restored, yet the incident is open: a "still out" reply belongs to it
        outage("outage.restored", "o-1", 4, premise_ids=["P-1"], restored_at=RESTORED_AT),
        outage("outage.restored", "o-3", 5, restored_at=RESTORED_AT),
    )

    async with engine.connect() as conn:
        assert await open_incident_covering(conn, "c-1") == "o-1"
        assert await open_incident_covering(conn, "c-3") == "o-1"  # through o-2, a duplicate of o-1
        assert await open_incident_covering(conn, "c-4") is None  # o-3 is over
        assert await open_incident_covering(conn, "c-none") is None


async def test_an_incident_detected_longer_ago_than_the_bound_no_longer_counts(engine: AsyncEngine) -> None:
    """A restoration that never arrives must not keep a customer "without power" for good."""
    await town(engine)
    await project(
        engine,
        outage("outage.detected", "o-old", 1, premise_ids=["P-1"]),  # BASE_TIME + 1 min
        outage("outage.detected", "o-new", 60 * 24 * 6, premise_ids=["P-4"]),  # six days later
    )
    detected = BASE_TIME + timedelta(minutes=1)

    async with engine.connect() as conn:
        within = detected + MAX_OUTAGE_AGE - timedelta(minutes=1)
        assert await customers_without_power(conn, EVERYONE, within) == {"c-1", "c-4"}
        later = detected + MAX_OUTAGE_AGE + timedelta(minutes=1)
        assert await customers_without_power(conn, EVERYONE, later) == {"c-4"}
        assert await customers_without_power(conn, EVERYONE, later, timedelta(days=30)) == {"c-1", "c-4"}
        # without a time: the database's; both were detected months before it
        assert await customers_without_power(conn, EVERYONE) == set()
