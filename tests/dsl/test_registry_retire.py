"""Retiring a journey against a real Postgres: what new runs start on leaves it out, every version of
it (a new one published while retired included), until it is reinstated; both are idempotent."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl import registry

SOURCE = """\
id: {journey_id}
purpose: informational
trigger: {{event: bill.projection_updated}}
steps:
  - {{id: pause, wait: 3d}}
"""


async def publish(engine: AsyncEngine, journey_id: str, wait: str = "3d") -> int:
    source = SOURCE.format(journey_id=journey_id).replace("3d", wait)
    return (await registry.publish(engine, source, f"{journey_id}.yaml", None)).version


async def test_a_retired_journey_starts_nothing_until_reinstated(engine: AsyncEngine) -> None:
    await publish(engine, "kept")
    await publish(engine, "mistake")

    retired = await registry.retire(engine, "mistake", "marketer")
    assert retired is not None
    retirement, changed = retired
    assert (retirement.journey_id, retirement.retired_by, changed) == ("mistake", "marketer", True)
    assert [j.journey_id for j in await registry.all_latest(engine)] == ["kept"]
    both = await registry.latest_with_retired(engine)
    assert [j.journey_id for j in both.active] == ["kept"]
    assert [j.journey_id for j in both.retired] == ["mistake"]
    assert {info.journey_id: info.state for info in await registry.list_journeys(engine)} == {
        "kept": "active",
        "mistake": "retired",
    }

    # a second retirement changes nothing: the first one (its time, its author) stands
    again = await registry.retire(engine, "mistake", "someone else")
    assert again is not None and again == (retirement, False)

    # a new version of a retired journey stays retired
    assert await publish(engine, "mistake", wait="4d") == 2
    assert [j.journey_id for j in await registry.all_latest(engine)] == ["kept"]
    assert [(v.version, v.state) for v in await registry.list_versions(engine, "mistake")] == [
        (1, "retired"),
        (2, "retired"),
    ]

    assert await registry.reinstate(engine, "mistake") is True
    assert await registry.reinstate(engine, "mistake") is False  # already active
    latest = {j.journey_id: j.version for j in await registry.all_latest(engine)}
    assert latest == {"kept": 1, "mistake": 2}
    assert await registry.retirement(engine, "mistake") is None


async def test_an_unknown_journey_is_neither_retired_nor_reinstated(engine: AsyncEngine) -> None:
    assert await registry.retire(engine, "never_published", "marketer") is None
    assert await registry.reinstate(engine, "never_published") is None
    assert await registry.retirement(engine, "never_published") is None
