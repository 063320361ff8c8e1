"""Operators resolve sends in doubt (`gridjourney sends resolve`): a row no attempt holds any more
(ambiguous, or an attempt's lease ran out) is marked sent, or released so the held send goes out on
its next retry. Both under an operator token, like an attempt: a live attempt is never overridden."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gridjourney.activities import ledger
from gridjourney.activities.send_events import OPERATOR_SOURCE, message_event_id
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore


class NotResolvable(ValueError):
    """The key is unknown, already has an outcome, or an attempt still holds it."""


async def _taken(store: EventStore, key: str, token: str) -> ledger.LedgerRow:
    async with store.engine.begin() as conn:
        row = await ledger.take_for_operator(conn, key, token)
        if row is not None:
            return row
        current = await ledger.get_in(conn, key)
    if current is None:
        raise NotResolvable(f"{key}: no such send in the ledger")
    if current.completed or current.status == ledger.RELEASED:
        raise NotResolvable(f"{key}: nothing to resolve, the send is {current.status}")
    until = current.lease_expires_at.isoformat() if current.lease_expires_at else "its lease ends"
    raise NotResolvable(f"{key}: an attempt holds the send until {until}; try again after")


async def resolve_sent(
    store: EventStore, key: str, provider_message_id: str | None = None
) -> ledger.LedgerRow:
    """The provider has the message (the operator checked): record `message.sent` and complete the
    row. The workflow's next retry finds the outcome and goes on without sending."""
    token = str(uuid.uuid4())
    row = await _taken(store, key, token)
    event = NewEvent(
        event_id=message_event_id(key, "message.sent"),
        type="message.sent",
        customer_id=row.customer_id,
        occurred_at=datetime.now(UTC),
        source=OPERATOR_SOURCE,
        payload={
            "idempotency_key": key,
            "journey_id": row.journey_id,
            "step_id": row.step_id,
            "channel": row.channel,
            "provider_message_id": provider_message_id,
        },
    )
    async with store.engine.begin() as conn:
        note = "resolved by an operator: sent"
        if not await ledger.complete(conn, key, token, "sent", row.channel, provider_message_id, note):
            raise NotResolvable(f"{key}: an attempt took the send over meanwhile")
        await store.append_in(conn, [event])
    return await _reread(store, key)


async def resolve_not_sent(store: EventStore, key: str) -> ledger.LedgerRow:
    """The provider does not have the message: release the row, so the workflow's next retry sends."""
    token = str(uuid.uuid4())
    await _taken(store, key, token)
    async with store.engine.begin() as conn:
        if not await ledger.release(conn, key, token, "resolved by an operator: not sent"):
            raise NotResolvable(f"{key}: an attempt took the send over meanwhile")
    return await _reread(store, key)


async def _reread(store: EventStore, key: str) -> ledger.LedgerRow:
    row = await ledger.get(store.engine, key)
    assert row is not None  # rows are never deleted
    return row
