"""`GET /v1/messages`: the message log (projection), newest first, filtered and paginated."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gridjourney.api.deps import EngineDep, JourneysReader, KnownQueryParameters
from gridjourney.api.pagination import Page, PageQuery, decode_time_cursor
from gridjourney.api.problems import problem_responses
from gridjourney.events.types import Channel
from gridjourney.projections import queries

router = APIRouter(prefix="/v1/messages", tags=["messages"])

# the stages of projections/messages.py
MessageStatus = Literal[
    "deferred",
    "sent",
    "suppressed",
    "delivered",
    "undelivered",
    "bounced",
    "dropped",
    "failed",
    "opened",
    "clicked",
    "spam_reported",
]


class Message(queries.MessageView):
    pass


@router.get("", summary="Messages, newest first", responses=problem_responses(401, 403, 422))
async def list_messages(
    _: JourneysReader,
    _known: KnownQueryParameters,
    engine: EngineDep,
    page: PageQuery,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    journey_id: Annotated[str | None, Query(max_length=100)] = None,
    status: MessageStatus | None = None,
    channel: Channel | None = None,
) -> Page[Message]:
    limit, cursor = page
    # Keyset on (occurred_at, idempotency_key) descending: stable while new messages arrive.
    before = decode_time_cursor(cursor, "key") if cursor else None
    async with engine.connect() as conn:
        rows = await queries.list_messages(
            conn,
            customer_id=customer_id,
            journey_id=journey_id,
            status=status,
            channel=channel,
            before=before,
            limit=limit + 1,
        )
    return Page[Message].of(
        [Message.model_validate(row) for row in rows],
        limit,
        lambda last: {"at": last.occurred_at.isoformat(), "key": last.idempotency_key},
    )
