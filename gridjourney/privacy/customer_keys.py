"""Per-customer data keys (the `customer_keys` table): what makes erasure possible without rewriting
the log. A customer's personal event fields are sealed with their own key, stored wrapped by the
settings' key; erasure destroys the wrapped key, and what it sealed can never be read again.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import customer_keys
from gridjourney.privacy.keyring import KEY_BYTES, Keyring

_WRAP_CONTEXT = b"customer-key:"


class CustomerErased(ValueError):
    """The customer was erased: nothing new may be recorded about them."""

    def __init__(self, customer_id: str, erased_at: datetime) -> None:
        super().__init__(f"customer {customer_id!r} was erased at {erased_at.isoformat()}")
        self.customer_id = customer_id
        self.erased_at = erased_at


def _unwrap(keyring: Keyring, customer_id: str, key_id: str, wrapped: bytes) -> bytes:
    # the customer id is authenticated: a wrapped key copied onto another customer does not open
    return keyring.decrypt(key_id, wrapped, _WRAP_CONTEXT + customer_id.encode())


async def keys_for_writing(
    conn: AsyncConnection, keyring: Keyring, customer_ids: Collection[str]
) -> dict[str, bytes]:
    """Each customer's data key, created on first use. Raises CustomerErased for an erased customer.
    Call inside the append's transaction (under its lock), so two appends never create two keys."""
    if not customer_ids:
        return {}
    rows = await conn.execute(select(customer_keys).where(any_of(customer_keys.c.customer_id, customer_ids)))
    keys: dict[str, bytes] = {}
    for row in rows:
        if row.erased_at is not None:
            raise CustomerErased(row.customer_id, row.erased_at)
        keys[row.customer_id] = _unwrap(keyring, row.customer_id, row.wrapping_key_id, row.wrapped_key)
    missing = sorted(set(customer_ids) - set(keys))
    new_rows = []
    for customer_id in missing:
        keys[customer_id] = secrets.token_bytes(KEY_BYTES)
        key_id, wrapped = keyring.encrypt(keys[customer_id], _WRAP_CONTEXT + customer_id.encode())
        new_rows.append({"customer_id": customer_id, "wrapping_key_id": key_id, "wrapped_key": wrapped})
    if new_rows:
        await conn.execute(insert(customer_keys).values(new_rows))
    return keys


async def keys_for_reading(
    conn: AsyncConnection, keyring: Keyring, customer_ids: Collection[str]
) -> dict[str, bytes | None]:
    """Each customer's data key; None for an erased customer (and one that never had a key)."""
    if not customer_ids:
        return {}
    rows = await conn.execute(select(customer_keys).where(any_of(customer_keys.c.customer_id, customer_ids)))
    keys: dict[str, bytes | None] = dict.fromkeys(customer_ids)
    for row in rows:
        if row.wrapped_key is not None:
            try:
                keys[row.customer_id] = _unwrap(
                    keyring, row.customer_id, row.wrapping_key_id, row.wrapped_key
                )
            except InvalidTag:
                raise InvalidTag(f"the wrapped key of customer {row.customer_id!r} does not open") from None
    return keys


async def erased_at(conn: AsyncConnection, customer_id: str) -> datetime | None:
    found: datetime | None = (
        await conn.execute(
            select(customer_keys.c.erased_at).where(customer_keys.c.customer_id == customer_id)
        )
    ).scalar_one_or_none()
    return found


async def destroy_key(conn: AsyncConnection, customer_id: str) -> datetime:
    """Forget the customer's data key for good (idempotent): when it was (or had already been) erased.
    A customer without a key gets an erased row too, so that nothing new is recorded about them."""
    statement = insert(customer_keys).values(customer_id=customer_id, erased_at=func.now())
    await conn.execute(statement.on_conflict_do_nothing(index_elements=[customer_keys.c.customer_id]))
    await conn.execute(
        update(customer_keys)
        .where(customer_keys.c.customer_id == customer_id, customer_keys.c.erased_at.is_(None))
        .values(wrapped_key=None, wrapping_key_id=None, erased_at=func.now())
    )
    when = await erased_at(conn, customer_id)
    assert when is not None
    return when
