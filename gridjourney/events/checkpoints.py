"""All SQL of the subscription checkpoints: the position of the last event each subscription has
handled (table `subscription_checkpoints`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import subscription_checkpoints


async def load_checkpoint(conn: AsyncConnection, name: str) -> int:
    """The saved position of subscription `name` (0 when it has never saved one)."""
    query = select(subscription_checkpoints.c.position).where(subscription_checkpoints.c.name == name)
    value = (await conn.execute(query)).scalar_one_or_none()
    return int(value or 0)


async def save_checkpoint(conn: AsyncConnection, name: str, position: int) -> None:
    """Move the checkpoint forward to `position` (never back: a slower duplicate instance of the same
    subscription must not undo a faster one's progress)."""
    statement = insert(subscription_checkpoints).values(name=name, position=position)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "position": func.greatest(subscription_checkpoints.c.position, statement.excluded.position),
            "updated_at": func.now(),
        },
    )
    await conn.execute(statement)


async def set_checkpoint(conn: AsyncConnection, name: str, position: int) -> None:
    """Set the checkpoint to `position`, also backwards (a rebuild or a deliberate replay)."""
    statement = insert(subscription_checkpoints).values(name=name, position=position)
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"position": statement.excluded.position, "updated_at": func.now()}
    )
    await conn.execute(statement)


async def lock_checkpoint(conn: AsyncConnection, name: str) -> int:
    """Create the checkpoint row if needed, lock it until the transaction ends, and return it.

    Holders of the lock are serialized: two instances of a transactional subscription (or a rebuild and
    the runner) never apply the same batch concurrently."""
    await conn.execute(
        insert(subscription_checkpoints)
        .values(name=name, position=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    query = (
        select(subscription_checkpoints.c.position)
        .where(subscription_checkpoints.c.name == name)
        .with_for_update()
    )
    return int((await conn.execute(query)).scalar_one())
