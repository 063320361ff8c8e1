"""`GET /v1/admin/subscriptions` (scope `admin`): each subscription's position, lag and dead letters,
the figures of `gridjourney subscriptions status`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gridjourney.api.deps import Admin, EngineDep
from gridjourney.api.problems import problem_responses
from gridjourney.events import dead_letters
from gridjourney.events.dead_letters import DeadLetter
from gridjourney.events.subscription_status import SubscriptionStatus, subscription_statuses
from gridjourney.projections.runner import SUBSCRIPTION_NAME as PROJECTIONS
from gridjourney.router.router import SUBSCRIPTION_NAME as ROUTER

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class Subscriptions(BaseModel):
    subscriptions: list[SubscriptionStatus]
    dead_letters: list[DeadLetter] = Field(
        description="The oldest dead letters of each subscription, `dead_letters_limit` at most each; "
        "the errors carry the exception class and message, never the event's payload. Replay them "
        "with `gridjourney subscriptions retry NAME`."
    )
    truncated: bool = Field(description="True when some subscription has more dead letters than shown.")


@router.get(
    "/subscriptions",
    summary="Subscriptions: position, lag, dead letters",
    responses=problem_responses(401, 403, 422),
)
async def list_subscriptions(
    _: Admin,
    engine: EngineDep,
    dead_letters_limit: Annotated[
        int, Query(ge=0, le=1000, description="Dead letters listed per subscription, oldest first.")
    ] = 100,
) -> Subscriptions:
    async with engine.connect() as conn:
        statuses = await subscription_statuses(conn, (PROJECTIONS, ROUTER))
        letters = [
            letter
            for status in statuses
            if status.dead_letters and dead_letters_limit
            for letter in await dead_letters.list_for(conn, status.name, dead_letters_limit)
        ]
    return Subscriptions(
        subscriptions=statuses,
        dead_letters=letters,
        truncated=any(status.dead_letters > dead_letters_limit for status in statuses),
    )
