"""`GET /v1/messages`: the message log (projection), newest first, filtered and paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import and_, or_, select

from gridjourney.api.deps import EngineDep, JourneysReader
from gridjourney.api.pagination import Page, PageQuery, cursor_time, decode_cursor, encode_cursor
from gridjourney.api.problems import problem_responses
from gridjourney.db.tables import messages

router = APIRouter(prefix="/v1/messages", tags=["messages"])

MessageStatus = Literal["sent", "suppressed", "delivered", "failed"]
ChannelName = Literal["sms", "email", "push", "outbox"]


class Message(BaseModel):
    idempotency_key: str
    customer_id: str | None
    journey_id: str | None
    instance_id: str | None
    step_id: str | None
    channel: str | None
    template: str | None
    locale: str | None
    status: str
    reason: str | None
    provider_message_id: str | None
    occurred_at: datetime
    updated_at: datetime


@router.get("", summary="Messages, newest first", responses=problem_responses(401, 403, 422))
async def list_messages(
    _: JourneysReader,
    engine: EngineDep,
    page: PageQuery,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    journey_id: Annotated[str | None, Query(max_length=100)] = None,
    status: MessageStatus | None = None,
    channel: ChannelName | None = None,
) -> Page[Message]:
    limit, cursor = page
    conditions = [
        column == value
        for column, value in (
            (messages.c.customer_id, customer_id),
            (messages.c.journey_id, journey_id),
            (messages.c.status, status),
            (messages.c.channel, channel),
        )
        if value is not None
    ]
    if cursor:
        # Keyset on (occurred_at, idempotency_key) descending: stable while new messages arrive.
        key = decode_cursor(cursor, ("at", "key"))
        at = cursor_time(key["at"])
        conditions.append(
            or_(
                messages.c.occurred_at < at,
                and_(messages.c.occurred_at == at, messages.c.idempotency_key < key["key"]),
            )
        )
    query = (
        select(messages)
        .where(*conditions)
        .order_by(messages.c.occurred_at.desc(), messages.c.idempotency_key.desc())
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [Message.model_validate(row._mapping) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor({"at": last.occurred_at.isoformat(), "key": last.idempotency_key})
    return Page[Message](items=items, next_cursor=next_cursor)
