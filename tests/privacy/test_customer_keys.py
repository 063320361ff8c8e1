"""Per-customer data keys: created once, wrapped by the settings' key, surviving a rotation."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import customer_keys
from gridjourney.privacy.customer_keys import CustomerErased, destroy_key, keys_for_reading, keys_for_writing
from gridjourney.privacy.keyring import Keyring, UnknownKeyId

OLD = Keyring({"2026-10": b"o" * 32}, "2026-10")
ROTATED = Keyring({"2026-10": b"o" * 32, "2026-11": b"n" * 32}, "2026-11")


async def test_a_key_wrapped_before_a_rotation_still_opens_and_new_keys_use_the_new_one(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        before = await keys_for_writing(conn, OLD, {"c-1"})
    async with engine.begin() as conn:
        again = await keys_for_writing(conn, ROTATED, {"c-1", "c-2"})
        assert again["c-1"] == before["c-1"]  # created once, whatever the active key
        assert await keys_for_reading(conn, ROTATED, {"c-1", "c-2", "c-3"}) == again | {"c-3": None}
    async with engine.begin() as conn:
        with pytest.raises(UnknownKeyId, match="2026-11"):  # c-2 was wrapped under the new key only
            await keys_for_reading(conn, OLD, {"c-2"})


async def test_a_wrapped_key_copied_to_another_customer_does_not_open(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await keys_for_writing(conn, OLD, {"c-1", "c-2"})
        stolen = (await keys_for_reading(conn, OLD, {"c-1"}))["c-1"]
        assert stolen is not None
        row = (await conn.execute(customer_keys.select().where(customer_keys.c.customer_id == "c-1"))).one()
        await conn.execute(
            update(customer_keys)
            .where(customer_keys.c.customer_id == "c-2")
            .values(wrapped_key=row.wrapped_key)
        )
        with pytest.raises(InvalidTag, match="c-2"):
            await keys_for_reading(conn, OLD, {"c-2"})


async def test_a_destroyed_key_reads_none_and_refuses_writes(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await keys_for_writing(conn, OLD, {"c-1"})
        first = await destroy_key(conn, "c-1")
        assert await destroy_key(conn, "c-1") == first  # idempotent
        assert await keys_for_reading(conn, OLD, {"c-1"}) == {"c-1": None}
        with pytest.raises(CustomerErased):
            await keys_for_writing(conn, OLD, {"c-1"})
        await destroy_key(conn, "never-seen")  # erased before any event: none may follow
        with pytest.raises(CustomerErased):
            await keys_for_writing(conn, OLD, {"never-seen"})
