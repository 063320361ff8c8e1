"""All SQL of the subscription checkpoints: the position of the last event each subscription has
handled (table `subscription_checkpoints`).

The statements are built once, here: a subscription runs them for every batch it handles."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import subscription_checkpoints

_NAME = bindparam("name", type_=String)
_POSITION = bindparam("position", type_=BigInteger)
_LOAD = select(subscription_checkpoints.c.position).where(subscription_checkpoints.c.name == _NAME)
_LOCK = _LOAD.with_for_update()
_NEW = insert(subscription_checkpoints).values(name=_NAME, position=_POSITION)
_CREATE = _NEW.on_conflict_do_nothing(index_elements=["name"])
# Forward only: a slower duplicate instance of the same subscription must not undo a faster one's progress.
_SAVE = _NEW.on_conflict_do_update(
    index_elements=["name"],
    set_={
        "position": func.greatest(subscription_checkpoints.c.position, _NEW.excluded.position),
        "updated_at": func.now(),
    },
)
_SET = _NEW.on_conflict_do_update(
    index_elements=["name"], set_={"position": _NEW.excluded.position, "updated_at": func.now()}
)


async def load_checkpoint(conn: AsyncConnection, name: str) -> int:
    """The saved position of subscription `name` (0 when it has never saved one)."""
    value = (await conn.execute(_LOAD, {"name": name})).scalar_one_or_none()
    return int(value or 0)


async def save_checkpoint(conn: AsyncConnection, name: str, position: int) -> None:
    """Move the checkpoint forward to `position` (never back)."""
    await conn.execute(_SAVE, {"name": name, "position": position})


async def set_checkpoint(conn: AsyncConnection, name: str, position: int) -> None:
    """Set the checkpoint to `position`, also backwards (a rebuild or a deliberate replay)."""
    await conn.execute(_SET, {"name": name, "position": position})


async def lock_checkpoint(conn: AsyncConnection, name: str) -> int:
    """Create the checkpoint row if needed, lock it until the transaction ends, and return it.

    Holders of the lock are serialized: two instances of a transactional subscription (or a rebuild and
    the runner) never apply the same batch concurrently. The row exists after the first batch, so a
    batch costs one statement; only the first creates the row (0) and locks it then."""
    locked = (await conn.execute(_LOCK, {"name": name})).scalar_one_or_none()
    if locked is not None:
        return int(locked)
    await conn.execute(_CREATE, {"name": name, "position": 0})
    return int((await conn.execute(_LOCK, {"name": name})).scalar_one())
