"""All SQL of the router: the open instances that events are signalled to, from the entry record
that gridjourney/entry/queries.py writes, the traces events were appended in, and the start gates'
locks (router/start_gate.py). The customer comes from the projections' queries."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import events, journey_instances, journey_retirements, routed_instances
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


START_GATE_LOCK = 0x67_6A_73_67
"""The start gate's lock space ("gjsg"): its locks are (START_GATE_LOCK, hashtext(journey id)), two-key
advisory locks whose class no other lock here uses (the others: entry/queries.py, activities/
ledger_rows.py; the single-key locks live in another space). Two journeys whose ids hash alike only
share a gate: a retirement may wait for the other's starts, nothing more."""

# The keys in sorted order (the outer select reads the sorted subquery in order), so that two holders
# of several journeys' gates take them in the same order.
_HOLD_SHARED = text(
    "SELECT pg_advisory_xact_lock_shared(:lock_class, k) FROM "
    "(SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST(:ids AS text[])) AS id ORDER BY k) AS keys"
).bindparams(bindparam("ids", type_=ARRAY(Text)), lock_class=START_GATE_LOCK)


async def hold_start_gates_shared(conn: AsyncConnection, journey_ids: Collection[str]) -> set[str]:
    """The start gates of `journey_ids`, shared, until `conn`'s transaction ends; then which of them
    are retired, read under the gates (a retirement stored before they were taken is seen)."""
    await conn.execute(_HOLD_SHARED, {"ids": sorted(journey_ids)})
    # A statement of its own, after the locks: under READ COMMITTED its snapshot is taken now, so it
    # sees a retirement committed while the locks were awaited (one statement would not).
    retired = select(journey_retirements.c.journey_id).where(
        journey_retirements.c.journey_id.in_(list(journey_ids))
    )
    return {str(journey_id) for journey_id in (await conn.scalars(retired))}


async def hold_start_gate(conn: AsyncConnection, journey_id: str, wait: float) -> None:
    """The journey's start gate, exclusive, until `conn`'s transaction ends; waiting `wait` seconds at
    most (then Postgres raises lock_not_available, 55P03, and the transaction is aborted)."""
    # SET LOCAL takes no bind parameters; the figure is a number of ours, not the caller's text.
    await conn.execute(text(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'"))
    await conn.execute(select(func.pg_advisory_xact_lock(START_GATE_LOCK, func.hashtext(journey_id))))
