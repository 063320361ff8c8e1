"""Frequency caps, counted from the send ledger under a per-customer lock: for one customer (the
per-customer send, activities/send.py) and for many at once (a cohort chunk, activities/batch_decisions.py).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import DateTime, String, Text, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.activities.ledger_rows import CUSTOMER_LOCK_CLASS, RESERVED
from gridjourney.db.tables import send_ledger

_TEXTS = ARRAY(Text)


async def lock_customer(conn: AsyncConnection, customer_id: str) -> None:
    """Serialize the send decisions of one customer until this transaction ends, so that two journeys
    deciding at the same moment cannot both pass a cap of 1."""
    await conn.execute(select(func.pg_advisory_xact_lock(CUSTOMER_LOCK_CLASS, func.hashtext(customer_id))))


async def count_reserved(
    conn: AsyncConnection, customer_id: str, purpose: str, channel: str | None, since: datetime
) -> int:
    """Messages of this purpose (on this channel; None: any) reserved for the customer since `since`."""
    query = (
        select(func.count())
        .select_from(send_ledger)
        .where(
            send_ledger.c.customer_id == customer_id,
            send_ledger.c.purpose == purpose,
            send_ledger.c.status.in_(RESERVED),
            send_ledger.c.reserved_at >= since,
        )
    )
    if channel is not None:
        query = query.where(send_ledger.c.channel == channel)
    return int((await conn.execute(query)).scalar_one())


# --- many customers at once (a cohort chunk) -------------------------------------------------------
# The outer select reads the sorted subquery in order, so the locks are taken in that order.
_LOCK_CUSTOMERS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, k) FROM "
    "(SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST(:ids AS text[])) AS id ORDER BY k) AS keys"
)
_CUSTOMER_IDS = bindparam("customer_ids", type_=_TEXTS)
_SINCE = bindparam("since", type_=DateTime(timezone=True))
_RESERVED_BY_CUSTOMER = (
    select(send_ledger.c.customer_id, func.count())
    .where(
        send_ledger.c.customer_id == any_(_CUSTOMER_IDS),
        send_ledger.c.purpose == bindparam("purpose", type_=String),
        send_ledger.c.status.in_(RESERVED),
        send_ledger.c.reserved_at >= _SINCE,
    )
    .group_by(send_ledger.c.customer_id)
)
_RESERVED_BY_CUSTOMER_ON_CHANNEL = _RESERVED_BY_CUSTOMER.where(
    send_ledger.c.channel == bindparam("channel", type_=String)
)


async def lock_customers(conn: AsyncConnection, customer_ids: Collection[str]) -> None:
    """`lock_customer` for many customers, in the order of their lock keys: two batches locking
    overlapping customers take the locks in the same order and cannot deadlock."""
    if not customer_ids:
        return
    await conn.execute(_LOCK_CUSTOMERS, {"lock_class": CUSTOMER_LOCK_CLASS, "ids": sorted(customer_ids)})


async def count_reserved_many(
    conn: AsyncConnection,
    customer_ids: Collection[str],
    purpose: str,
    channel: str | None,
    since: datetime,
) -> dict[str, int]:
    """`count_reserved` for many customers in one grouped query (customers without any: absent)."""
    if not customer_ids:
        return {}
    params = {"customer_ids": list(customer_ids), "purpose": purpose, "since": since}
    if channel is None:
        rows = await conn.execute(_RESERVED_BY_CUSTOMER, params)
    else:
        rows = await conn.execute(_RESERVED_BY_CUSTOMER_ON_CHANNEL, params | {"channel": channel})
    return {customer_id: int(count) for customer_id, count in rows.all()}
