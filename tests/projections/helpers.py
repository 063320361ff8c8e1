"""Appending events and reading projection tables back, for the projection tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import PROJECTIONS, ProjectionRunner

Dump = dict[str, list[tuple[Any, ...]]]


async def project(engine: AsyncEngine, *new_events: NewEvent, batch_size: int = 500) -> int:
    """Append the events, then let the projections catch up; the number of events they took."""
    await EventStore(engine).append(list(new_events))
    return await ProjectionRunner(engine, batch_size=batch_size).catch_up()


async def dump(engine: AsyncEngine) -> Dump:
    """Every row of every projection table, every column, in primary key order."""
    out: Dump = {}
    async with engine.connect() as conn:
        for projection in PROJECTIONS:
            table = projection.table
            query = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in await conn.execute(query)]
    return out


async def rows(engine: AsyncEngine, table: str) -> list[dict[str, Any]]:
    by_name = {projection.table.name: projection.table for projection in PROJECTIONS}
    query = select(by_name[table]).order_by(*by_name[table].primary_key.columns)
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]
