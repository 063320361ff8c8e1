"""All SQL of the demo: the state of its journeys and messages, read from the projections."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import journey_instances, messages


@dataclass(frozen=True)
class InstanceRow:
    instance_id: str
    journey_id: str
    customer_id: str
    status: str
    holdout: bool


async def instances(engine: AsyncEngine) -> dict[tuple[str, str], InstanceRow]:
    query = select(
        journey_instances.c.instance_id,
        journey_instances.c.journey_id,
        journey_instances.c.customer_id,
        journey_instances.c.status,
        journey_instances.c.holdout,
    )
    async with engine.connect() as conn:
        rows = [InstanceRow(*row) for row in await conn.execute(query)]
    return {(row.journey_id, row.customer_id): row for row in rows}


async def message_steps(engine: AsyncEngine) -> set[tuple[str, str]]:
    """(instance id, step id) of every message decision recorded (sent, suppressed or failed)."""
    query = select(messages.c.instance_id, messages.c.step_id).where(messages.c.instance_id.is_not(None))
    async with engine.connect() as conn:
        return {(row.instance_id, row.step_id) for row in await conn.execute(query)}


async def journey_counts(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    query = (
        select(journey_instances.c.journey_id, journey_instances.c.status, func.count())
        .group_by(journey_instances.c.journey_id, journey_instances.c.status)
        .order_by(journey_instances.c.journey_id)
    )
    async with engine.connect() as conn:
        return [(row[0], row[1], int(row[2])) for row in await conn.execute(query)]


async def message_counts(engine: AsyncEngine) -> list[tuple[str, str, str, str, int]]:
    """(status, channel, template, reason, count), most frequent first."""
    query = (
        select(
            messages.c.status,
            func.coalesce(messages.c.channel, "-"),
            func.coalesce(messages.c.template, "-"),
            func.coalesce(messages.c.reason, ""),
            func.count(),
        )
        .group_by(messages.c.status, messages.c.channel, messages.c.template, messages.c.reason)
        .order_by(func.count().desc())
    )
    async with engine.connect() as conn:
        return [(row[0], row[1], row[2], row[3], int(row[4])) for row in await conn.execute(query)]
