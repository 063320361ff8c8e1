"""How far behind each subscription is, and how many events it has set aside: the figures behind
`gridjourney subscriptions status`, `GET /v1/admin/subscriptions` and `/healthz`."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events, subscription_checkpoints
from gridjourney.events import dead_letters


class SubscriptionStatus(BaseModel):
    name: str
    position: int = Field(description="The checkpoint: the last event handled (or set aside).")
    head: int = Field(description="The newest event's position.")
    lag_events: int = Field(description="Events after the checkpoint, still to handle.")
    lag_seconds: float = Field(
        description="Age of the oldest event still to handle (0 when caught up), by the database clock."
    )
    dead_letters: int = Field(description="Events set aside (see `gridjourney subscriptions retry`).")


async def subscription_statuses(
    conn: AsyncConnection, expected: Iterable[str] = ()
) -> list[SubscriptionStatus]:
    """Every subscription with a checkpoint or a dead letter, and the `expected` ones even before they
    have started (at position 0), by name."""
    head = int((await conn.execute(select(func.coalesce(func.max(events.c.position), 0)))).scalar_one())
    rows = await conn.execute(select(subscription_checkpoints.c.name, subscription_checkpoints.c.position))
    positions = {str(row.name): int(row.position) for row in rows}
    set_aside = await dead_letters.counts(conn)
    statuses = []
    for name in sorted(set(expected) | positions.keys() | set_aside.keys()):
        position = positions.get(name, 0)
        statuses.append(
            SubscriptionStatus(
                name=name,
                position=position,
                head=head,
                lag_events=max(head - position, 0),
                lag_seconds=await _age_of_next(conn, position) if head > position else 0.0,
                dead_letters=set_aside.get(name, 0),
            )
        )
    return statuses


async def _age_of_next(conn: AsyncConnection, position: int) -> float:
    """Seconds since the first event after `position` was recorded."""
    age = func.extract("epoch", func.now() - events.c.recorded_at)
    query = select(age).where(events.c.position > position).order_by(events.c.position).limit(1)
    value = (await conn.execute(query)).scalar_one_or_none()
    return max(float(value or 0.0), 0.0)
