from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.outbox import OutboxSender
from gridjourney.db.tables import outbox_messages


async def test_outbox_records_a_message_once_per_key(engine: AsyncEngine) -> None:
    sender = OutboxSender(engine)
    message = OutgoingMessage(
        idempotency_key="journey:onboarding:c1:1/welcome/c1",
        channel="email",
        recipient="ana@example.org",
        subject="Welcome",
        body="Hello Ana",
    )
    first = await sender.send(message)
    again = await sender.send(message.model_copy(update={"body": "changed"}))
    assert first == again
    assert first.provider == "outbox"
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox_messages))).mappings().all()
    assert len(rows) == 1
    assert (rows[0]["channel"], rows[0]["recipient"], rows[0]["subject"], rows[0]["body"]) == (
        "email",
        "ana@example.org",
        "Welcome",
        "Hello Ana",
    )
