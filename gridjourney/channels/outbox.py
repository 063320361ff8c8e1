"""The recording sender: email and push "sent" here are only recorded in `outbox_messages`.

The tests use it where a message's provider does not matter, to read what a customer would have
received (the real senders are channels/email.py and channels/push.py). Writing is idempotent on
the send's key: a retried send finds the row it wrote before and reports the same receipt.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    ProviderReceipt,
    TransientSendError,
)
from gridjourney.db.tables import outbox_messages


class OutboxSender:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        statement = (
            insert(outbox_messages)
            .values(
                idempotency_key=message.idempotency_key,
                channel=message.channel,
                recipient=message.recipient,
                subject=message.subject,
                body=message.body,
            )
            .on_conflict_do_nothing(index_elements=[outbox_messages.c.idempotency_key])
        )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(statement)
                row_id = (
                    await conn.execute(
                        select(outbox_messages.c.id).where(
                            outbox_messages.c.idempotency_key == message.idempotency_key
                        )
                    )
                ).scalar_one()
        except SQLAlchemyError as error:
            raise TransientSendError(f"outbox write failed: {error}") from error
        return ProviderReceipt(provider="outbox", provider_message_id=f"outbox-{row_id}", status="stored")

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        """The outbox is its own record: the row with this key, if any (`since` is not needed)."""
        query = select(outbox_messages.c.id).where(
            outbox_messages.c.idempotency_key == message.idempotency_key
        )
        try:
            async with self.engine.connect() as conn:
                row_id = (await conn.execute(query)).scalar_one_or_none()
        except SQLAlchemyError as error:
            raise LookupUnavailable(f"outbox read failed: {error}") from error
        if row_id is None:
            return None
        return ProviderReceipt(provider="outbox", provider_message_id=f"outbox-{row_id}", status="stored")

    async def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""
