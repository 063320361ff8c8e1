"""The SQL of the inbound webhooks and links: receipts of requests already handled, and a customer's
consent history as the log tells it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events, webhook_receipts
from gridjourney.projections.consents import consent_history, effective_at, in_effect_order


async def first_receipt(conn: AsyncConnection, provider: str, receipt_id: str) -> bool:
    """Note a request as handled; False when it was handled before (a provider's retry).

    Inside the caller's transaction: a concurrent copy of the request waits on the row until this
    transaction ends, then finds it."""
    statement = (
        insert(webhook_receipts)
        .values(provider=provider, receipt_id=receipt_id)
        .on_conflict_do_nothing(index_elements=[webhook_receipts.c.provider, webhook_receipts.c.receipt_id])
        .returning(webhook_receipts.c.receipt_id)
    )
    return (await conn.execute(statement)).first() is not None


@dataclass(frozen=True)
class ConsentChange:
    purpose: str
    granted: bool
    method: str | None


async def sms_consent_changes(conn: AsyncConnection, customer_id: str) -> list[ConsentChange]:
    """The customer's SMS consent changes in the order they take effect (projections/consents.py):
    a late change sorts before the newer one it does not override."""
    return [
        ConsentChange(record.purpose, record.granted, record.method)
        for record in in_effect_order(await consent_history(conn, customer_id, "sms"))
    ]


async def latest_consent(
    conn: AsyncConnection, customer_id: str, channel: str, purpose: str
) -> tuple[int, bool] | None:
    """(position, granted) of the customer's consent.changed in force for this channel and purpose
    (the newest, projections/consents.py), read from the log itself: the consents projection may not
    have folded a change made a moment ago."""
    query = (
        select(events.c.position, events.c.payload["granted"].as_boolean())
        .where(
            events.c.customer_id == customer_id,
            events.c.type == "consent.changed",
            events.c.payload["channel"].as_string() == channel,
            events.c.payload["purpose"].as_string() == purpose,
        )
        .order_by(effective_at().desc(), events.c.position.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (int(row[0]), bool(row[1]))
