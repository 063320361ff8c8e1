"""All SQL of entering a journey: the record of the instances started (routed_instances), and the
lock that makes one entry's check, start and record indivisible per journey and customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import routed_instances

# Advisory locks in the two-key space (class, object) never collide with the one-key locks of the
# event store, the registry or the meter store.
ENTRY_LOCK_CLASS = 6001


async def lock_entries(conn: AsyncConnection, journey_id: str, customer_id: str) -> None:
    """Hold, until the transaction ends, the right to enter this customer into this journey."""
    key = func.hashtext(f"{journey_id}:{customer_id}")
    await conn.execute(select(func.pg_advisory_xact_lock(ENTRY_LOCK_CLASS, key)))


async def is_recorded(conn: AsyncConnection, instance_id: str) -> bool:
    found = await conn.execute(
        select(routed_instances.c.instance_id).where(routed_instances.c.instance_id == instance_id)
    )
    return found.first() is not None


async def entered_after(conn: AsyncConnection, journey_id: str, customer_id: str, since: datetime) -> bool:
    """Whether the customer entered the journey with a trigger that occurred after `since`."""
    found = await conn.execute(
        select(routed_instances.c.instance_id)
        .where(
            routed_instances.c.journey_id == journey_id,
            routed_instances.c.customer_id == customer_id,
            routed_instances.c.entered_at > since,
        )
        .limit(1)
    )
    return found.first() is not None


async def record_entry(
    conn: AsyncConnection,
    instance_id: str,
    journey_id: str,
    customer_id: str,
    *,
    position: int,
    entered_at: datetime,
    started: bool,
) -> None:
    """Remember an instance; a new run under a reused workflow id (re-entry after exit) reopens it.

    An instance Temporal refused as already started is recorded too: it exists, whoever started it."""
    values = {"started_position": position, "entered_at": entered_at}
    statement = insert(routed_instances).values(
        instance_id=instance_id, journey_id=journey_id, customer_id=customer_id, **values
    )
    if started:
        statement = statement.on_conflict_do_update(
            index_elements=["instance_id"], set_={"closed": False, **values}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["instance_id"])
    await conn.execute(statement)
