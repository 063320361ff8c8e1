"""The SQL of the inbound webhooks and links: receipts of requests already handled, and a customer's
consent history as the log tells it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import events, webhook_receipts
from gridjourney.events.types import ConsentChanged
from gridjourney.projections.consents import ConsentRecord, in_effect_order


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


def _effective_at() -> ColumnElement[datetime]:
    # projections/consents.py in_effect_from, in SQL
    return func.least(events.c.occurred_at, events.c.recorded_at)


async def consent_history(
    conn: AsyncConnection, customer_id: str, channel: str | None = None
) -> list[ConsentRecord]:
    """Every consent.changed of the customer (of one channel, when given), in log order; the payload
    holds no sealed field. From the log rather than the consents projection: the projection keeps
    only the change in force, and undoing a STOP needs the state before it."""
    query = (
        select(events.c.position, events.c.payload, _effective_at())
        .where(events.c.customer_id == customer_id, events.c.type == "consent.changed")
        .order_by(events.c.position)
    )
    if channel is not None:
        query = query.where(events.c.payload["channel"].astext == channel)
    history = []
    for position, payload, effective_at in await conn.execute(query):
        change = ConsentChanged.model_validate(payload)
        history.append(
            ConsentRecord(
                position=position,
                channel=change.channel,
                purpose=change.purpose,
                granted=change.granted,
                method=change.method,
                effective_at=effective_at,
            )
        )
    return history


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
        .order_by(_effective_at().desc(), events.c.position.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (int(row[0]), bool(row[1]))
