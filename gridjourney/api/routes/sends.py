"""`GET /v1/sends` (scope `admin`): the send ledger, by key, optionally of one status: what operators
see of sends in flight or in doubt (`gridjourney sends list`). Ids only, never contact points."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gridjourney.activities import ledger
from gridjourney.api.deps import Admin, EngineDep, KnownQueryParameters
from gridjourney.api.pagination import Page, PageQuery, decode_cursor
from gridjourney.api.problems import problem_responses

router = APIRouter(prefix="/v1/sends", tags=["sends"])

SendStatus = Literal["claimed", "sending", "calling", "ambiguous", "released", "sent", "suppressed", "failed"]


class Send(BaseModel):
    idempotency_key: str
    customer_id: str
    status: SendStatus
    channel: str | None
    purpose: str | None
    journey_id: str | None
    step_id: str | None
    attempts: int = Field(description="Attempts that took the send (a retry after a crash counts).")
    provider_message_id: str | None
    claimed_at: datetime
    reserved_at: datetime | None = Field(description="When a channel was chosen (counts against caps).")
    lease_expires_at: datetime | None = Field(description="Until when an attempt holds it.")
    completed_at: datetime | None
    note: str | None = Field(description="Why the send is in doubt, or who resolved it.")


@router.get("", summary="Sends in the ledger, by key", responses=problem_responses(401, 403, 422))
async def list_sends(
    _: Admin,
    _known: KnownQueryParameters,
    engine: EngineDep,
    page: PageQuery,
    status: SendStatus | None = None,
) -> Page[Send]:
    limit, cursor = page
    after = str(decode_cursor(cursor, ("key",))["key"]) if cursor else None
    async with engine.connect() as conn:
        rows = await ledger.list_rows(conn, status, after_key=after, limit=limit + 1)
    sends = [Send.model_validate({name: getattr(row, name) for name in Send.model_fields}) for row in rows]
    return Page[Send].of(sends, limit, lambda last: {"key": last.idempotency_key})
