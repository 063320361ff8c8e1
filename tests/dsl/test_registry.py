"""Publishing against a real Postgres: immutable versions, idempotent by content hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import journey_versions
from gridjourney.dsl import registry
from gridjourney.dsl.loader import JourneyErrors

SOURCE = """\
id: sample
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - {id: pause, wait: 3d}
"""


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(journey_versions)) or 0)


async def test_publish_is_idempotent_by_content(engine: AsyncEngine) -> None:
    first = await registry.publish(engine, SOURCE, "sample.yaml", None)
    assert (first.journey_id, first.version, first.created) == ("sample", 1, True)
    # whitespace and comments only: the same version, nothing stored
    again = await registry.publish(engine, "# note\n" + SOURCE.replace("3d", "72h"), "sample.yaml", None)
    assert (again.version, again.content_hash, again.created) == (1, first.content_hash, False)
    assert await count_rows(engine) == 1

    changed = await registry.publish(engine, SOURCE.replace("3d", "4d"), "sample.yaml", None)
    assert (changed.version, changed.created) == (2, True)
    assert changed.content_hash != first.content_hash
    # publishing an earlier text again gives back that earlier version
    assert (await registry.publish(engine, SOURCE, "sample.yaml", None)).version == 1
    assert await count_rows(engine) == 2


async def test_invalid_journey_stores_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    with pytest.raises(JourneyErrors, match=r"sample.yaml:5:33: unknown step `nowhere`"):
        await registry.publish(engine, SOURCE.replace("3d}", "3d, next: nowhere}"), "sample.yaml", None)
    with pytest.raises(JourneyErrors, match=r"no sms template `alert` in English"):
        await registry.publish(
            engine,
            SOURCE + "  - {id: a, send: {channels: [sms], template: alert}}\n",
            "sample.yaml",
            tmp_path,
        )
    assert await count_rows(engine) == 0


async def test_reading_versions_back(engine: AsyncEngine) -> None:
    assert await registry.latest(engine, "sample") is None
    assert await registry.list_journeys(engine) == []
    await registry.publish(engine, SOURCE, "sample.yaml", None)
    await registry.publish(engine, SOURCE.replace("3d", "5d"), "sample.yaml", None)
    await registry.publish(engine, SOURCE.replace("sample", "other"), "other.yaml", None)

    latest = await registry.latest(engine, "sample")
    assert latest is not None and latest.version == 2
    assert latest.successors == {"pause": None}
    first = await registry.get(engine, "sample", 1)
    assert first is not None and first.version == 1 and first.content_hash != latest.content_hash
    assert await registry.get(engine, "sample", 9) is None
    assert await registry.get_source(engine, "sample", 1) == SOURCE

    versions = await registry.list_versions(engine, "sample")
    assert [(v.version, v.purpose) for v in versions] == [(1, "informational"), (2, "informational")]
    assert [(j.journey_id, j.version) for j in await registry.list_journeys(engine)] == [
        ("other", 1),
        ("sample", 2),
    ]
    assert sorted((c.journey_id, c.version) for c in await registry.all_latest(engine)) == [
        ("other", 1),
        ("sample", 2),
    ]
