"""`any_of` against real Postgres: the rows of any number of values, always through one statement text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import subscription_checkpoints


async def test_any_of_finds_the_rows_of_its_values_through_one_statement_text(engine: AsyncEngine) -> None:
    names = [f"sub-{n:03d}" for n in range(700)]
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    async with engine.begin() as conn:
        await conn.execute(insert(subscription_checkpoints), [{"name": n, "position": 1} for n in names])
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            found: list[set[str]] = []
            for wanted in ([], names[:1], [*names[100:103], "unknown"], names[:600]):
                query = select(subscription_checkpoints.c.name).where(
                    any_of(subscription_checkpoints.c.name, wanted)
                )
                found.append(set((await conn.execute(query)).scalars()))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert found == [set(), {names[0]}, set(names[100:103]), set(names[:600])]
    assert len(set(sent)) == 1
