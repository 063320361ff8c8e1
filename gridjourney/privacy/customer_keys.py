"""Per-customer data keys (the `customer_keys` table): what makes erasure possible without rewriting
the log. A customer's personal event fields are sealed with their own key, stored wrapped by the
settings' key; erasure destroys the wrapped key, and what it sealed can never be read again.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import LargeBinary, String, any_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.engine import Row
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


# Under the append lock, what may have changed since an append prepared its keys: customers erased
# meanwhile, and keys another append created meanwhile for customers it found without one (a key is
# never replaced otherwise). Usually no row at all.
_CHANGED_KEYS = _KEYS_OF.where(
    or_(
        customer_keys.c.erased_at.is_not(None),
        customer_keys.c.customer_id == any_(bindparam("new_ids", type_=ARRAY(String))),
    )
)


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
    keys = _opened_for_writing(keyring, rows)
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


@dataclass
class PreparedKeys:
    """Data keys read before the append lock is taken: those in the table, unwrapped, and a new one
    (already wrapped) for each customer without one, written only by confirm_keys under the lock."""

    keys: dict[str, bytes]
    new: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # customer -> (key id, wrapped key)


async def prepare_keys(
    conn: AsyncConnection, keyring: Keyring, customer_ids: Collection[str]
) -> PreparedKeys:
    """keys_for_writing's work, done before the append lock: nothing is written. Raises CustomerErased
    for a customer already erased. Its keys are final only once confirm_keys has run under the lock."""
    if not customer_ids:
        return PreparedKeys({})
    rows = (await conn.execute(_KEYS_OF, {"ids": list(customer_ids)})).all()
    prepared = PreparedKeys(_opened_for_writing(keyring, rows))
    for customer_id in sorted(set(customer_ids) - set(prepared.keys)):
        prepared.keys[customer_id] = secrets.token_bytes(KEY_BYTES)
        prepared.new[customer_id] = keyring.encrypt(
            prepared.keys[customer_id], _WRAP_CONTEXT + customer_id.encode()
        )
    return prepared


async def confirm_keys(conn: AsyncConnection, keyring: Keyring, prepared: PreparedKeys) -> dict[str, bytes]:
    """Under the append lock: raise CustomerErased if one of the customers was erased since their keys
    were prepared (erasure takes the same lock), and write the new keys. A customer whose key another
    append created meanwhile gets that key: returned (and set in `prepared.keys`), to seal their
    events with it instead of the one prepared."""
    if not prepared.keys:
        return {}
    ids = list(prepared.keys)
    rows = (await conn.execute(_CHANGED_KEYS, {"ids": ids, "new_ids": list(prepared.new)})).all()
    replaced = _opened_for_writing(keyring, rows)
    prepared.keys.update(replaced)
    missing = [customer_id for customer_id in prepared.new if customer_id not in replaced]
    if missing:
        new = {
            "customer_ids": missing,
            "wrapping_key_ids": [prepared.new[customer_id][0] for customer_id in missing],
            "wrapped_keys": [prepared.new[customer_id][1] for customer_id in missing],
        }
        await conn.execute(_INSERT_KEYS, new)
    return replaced


def _opened_for_writing(keyring: Keyring, rows: Sequence[Row[Any, Any, Any, Any]]) -> dict[str, bytes]:
    """The rows' keys, unwrapped; CustomerErased for an erased customer's row."""
    keys: dict[str, bytes] = {}
    for row in rows:
        if row.erased_at is not None:
            raise CustomerErased(row.customer_id, row.erased_at)
        keys[row.customer_id] = _unwrap(keyring, row.customer_id, row.wrapping_key_id, row.wrapped_key)
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
