"""All SQL of the dead letters: events a subscription could not handle, set aside so that one event
never stops the others (table `dead_letters`, gridjourney/db/tables.py).

A row keeps the event's position and id (the event itself stays in the log), the error's class and
message (never the payload) and how many attempts failed. A successful retry deletes the row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import dead_letters
from gridjourney.events.models import StoredEvent


class DeadLetter(BaseModel):
    subscription: str
    position: int
    event_id: uuid.UUID
    event_type: str
    error: str
    attempts: int
    failed_at: datetime


async def record(
    conn: AsyncConnection, subscription: str, event: StoredEvent, error: str, attempts: int
) -> None:
    """Set `event` aside for `subscription`; setting it aside again adds the attempts."""
    statement = insert(dead_letters).values(
        subscription=subscription,
        position=event.position,
        event_id=event.event_id,
        event_type=event.type,
        error=error,
        attempts=attempts,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["subscription", "position"],
        set_={
            "error": statement.excluded.error,
            "attempts": dead_letters.c.attempts + statement.excluded.attempts,
            "failed_at": func.now(),
        },
    )
    await conn.execute(statement)


async def remove(conn: AsyncConnection, subscription: str, position: int) -> None:
    await conn.execute(
        delete(dead_letters).where(
            dead_letters.c.subscription == subscription, dead_letters.c.position == position
        )
    )


async def remove_all(conn: AsyncConnection, subscription: str) -> None:
    """Forget every dead letter of `subscription` (a rebuild folds the whole log again)."""
    await conn.execute(delete(dead_letters).where(dead_letters.c.subscription == subscription))


async def list_for(conn: AsyncConnection, subscription: str, limit: int = 1000) -> list[DeadLetter]:
    """The oldest `limit` dead letters of `subscription`, in log order."""
    query = (
        select(dead_letters)
        .where(dead_letters.c.subscription == subscription)
        .order_by(dead_letters.c.position)
        .limit(limit)
    )
    return [DeadLetter.model_validate(row._mapping) for row in await conn.execute(query)]


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """Dead letters per subscription (only those that have some)."""
    query = select(dead_letters.c.subscription, func.count()).group_by(dead_letters.c.subscription)
    return {row[0]: int(row[1]) for row in await conn.execute(query)}
