"""Per-customer data keys (the `customer_keys` table): what makes erasure possible without rewriting
the log. A customer's personal event fields are sealed with their own key, stored wrapped by the
settings' key; erasure destroys the wrapped key, and what it sealed can never be read again.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy import LargeBinary, String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import customer_keys
from gridjourney.privacy.keyring import KEY_BYTES, Keyring

_WRAP_CONTEXT = b"customer-key:"

_KEY_COLUMNS = ("customer_id", "wrapping_key_id", "wrapped_key")
# New keys as parallel arrays: one statement text for any number of customers, so SQLAlchemy compiles
# it once and psycopg prepares it once (a multi-row VALUES would be new text for every batch size).
_NEW_KEYS = (
    func.unnest(
        bindparam("customer_ids", type_=ARRAY(String)),
        bindparam("wrapping_key_ids", type_=ARRAY(String)),
        bindparam("wrapped_keys", type_=ARRAY(LargeBinary)),
    )
    .table_valued(*_KEY_COLUMNS)
    .render_derived(name="new")
)
_INSERT_KEYS = insert(customer_keys).from_select(list(_KEY_COLUMNS), select(*_NEW_KEYS.c))
# What a key's use needs of its row (not created_at: a timestamp loaded per customer of every append).
_KEYS_OF = select(
    customer_keys.c.customer_id,
    customer_keys.c.wrapping_key_id,
    customer_keys.c.wrapped_key,
    customer_keys.c.erased_at,
).where(customer_keys.c.customer_id == any_(bindparam("ids", type_=ARRAY(String))))


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
    rows = (await conn.execute(_KEYS_OF, {"ids": list(customer_ids)})).all()
    keys: dict[str, bytes] = {}
    for row in rows:
        if row.erased_at is not None:
            raise CustomerErased(row.customer_id, row.erased_at)
        keys[row.customer_id] = _unwrap(keyring, row.customer_id, row.wrapping_key_id, row.wrapped_key)
    missing = sorted(set(customer_ids) - set(keys))
    key_ids: list[str] = []
    wrapped_keys: list[bytes] = []
    for customer_id in missing:
        keys[customer_id] = secrets.token_bytes(KEY_BYTES)
        key_id, wrapped = keyring.encrypt(keys[customer_id], _WRAP_CONTEXT + customer_id.encode())
        key_ids.append(key_id)
        wrapped_keys.append(wrapped)
    if missing:
        new = {"customer_ids": missing, "wrapping_key_ids": key_ids, "wrapped_keys": wrapped_keys}
        await conn.execute(_INSERT_KEYS, new)
    return keys


async def keys_for_reading(
    conn: AsyncConnection, keyring: Keyring, customer_ids: Collection[str]
) -> dict[str, bytes | None]:
    """Each customer's data key; None for an erased customer (and one that never had a key)."""
    if not customer_ids:
        return {}
    rows = (await conn.execute(_KEYS_OF, {"ids": list(customer_ids)})).all()
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
