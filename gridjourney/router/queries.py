"""All SQL of the router: the open instances that events are signalled to, from the entry record
that gridjourney/entry/queries.py writes, the traces events were appended in, and the start gate's
lock (router/start_gate.py). The customer comes from the projections' queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import events, journey_instances, routed_instances
from gridjourney.projections.queries import get_customer
from gridjourney.workflows.contracts import CustomerContext


async def open_instances(
    engine: AsyncEngine, customer_id: str, journey_ids: set[str]
) -> list[tuple[str, str]]:
    """(instance id, journey id) of the customer's instances not known to have finished."""
    finished = select(journey_instances.c.instance_id).where(
        journey_instances.c.instance_id == routed_instances.c.instance_id,
        journey_instances.c.status != "active",
    )
    query = select(routed_instances.c.instance_id, routed_instances.c.journey_id).where(
        routed_instances.c.customer_id == customer_id,
        routed_instances.c.journey_id.in_(journey_ids),
        routed_instances.c.closed.is_(False),
        ~finished.exists(),
    )
    async with engine.connect() as conn:
        return [(row.instance_id, row.journey_id) for row in await conn.execute(query)]


async def mark_closed(engine: AsyncEngine, instance_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(routed_instances).where(routed_instances.c.instance_id == instance_id).values(closed=True)
        )


async def customer_namespace(engine: AsyncEngine, customer_id: str) -> dict[str, Any] | None:
    """The customer as trigger conditions see it, or None if the projections do not know them."""
    async with engine.connect() as conn:
        view = await get_customer(conn, customer_id)
    if view is None:
        return None
    context = CustomerContext(
        customer_id=view.customer_id,
        name=view.name,
        locale=view.locale,
        time_zone=view.time_zone,
        attributes=view.attributes,
    )
    return context.namespace()


async def traceparents(engine: AsyncEngine, positions: list[int]) -> dict[int, str]:
    """Position -> the traceparent its event was appended in, for those appended inside a trace."""
    query = select(events.c.position, events.c.traceparent).where(
        events.c.position.in_(positions), events.c.traceparent.is_not(None)
    )
    async with engine.connect() as conn:
        return {int(row.position): str(row.traceparent) for row in await conn.execute(query)}


START_GATE_LOCK = 0x67_6A_73_67  # "gjsg": any key, as long as nothing else in the database uses it


async def hold_start_gate_shared(conn: AsyncConnection) -> None:
    """The start gate, shared, until `conn`'s transaction ends."""
    await conn.execute(select(func.pg_advisory_xact_lock_shared(START_GATE_LOCK)))


async def hold_start_gate(conn: AsyncConnection, wait: float) -> None:
    """The start gate, exclusive, until `conn`'s transaction ends; waiting `wait` seconds at most
    (then Postgres raises lock_not_available, 55P03, and the transaction is aborted)."""
    # SET LOCAL takes no bind parameters; the figure is a number of ours, not the caller's text.
    await conn.execute(text(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'"))
    await conn.execute(select(func.pg_advisory_xact_lock(START_GATE_LOCK)))
