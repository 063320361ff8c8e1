"""`GET /healthz`: can the API reach its database and Temporal, and are the subscriptions keeping up?

200 `ok` when all is well. 503 otherwise: `unavailable` when the database or Temporal cannot be
reached, `degraded` when a subscription lags beyond the configured thresholds or holds dead letters.
The body gives reason codes only: the route is public, so an error's text is logged, never returned.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.deps import EngineDep, TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.events.failures import describe
from gridjourney.events.subscription_status import subscription_statuses
from gridjourney.projections.runner import SUBSCRIPTION_NAME as PROJECTIONS
from gridjourney.router.router import SUBSCRIPTION_NAME as ROUTER

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0
MONITORED = (PROJECTIONS, ROUTER)
"""Subscriptions whose lag counts (any subscription's dead letters count)."""

Reason = Literal["database_unreachable", "temporal_unreachable", "subscription_lagging", "dead_letters"]


class Check(BaseModel):
    status: Literal["ok", "unavailable", "degraded", "unknown"]
    reasons: list[Reason] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="`unavailable`: the database or Temporal cannot be reached; `degraded`: a "
        "subscription lags beyond the thresholds or holds dead letters (see GET /v1/admin/subscriptions)."
    )
    reasons: list[Reason] = Field(description="Why it is not `ok`: machine-readable codes, no error text.")
    database: Check
    temporal: Check
    subscriptions: Check = Field(description="`unknown` while the database cannot be reached.")


async def _database(engine: AsyncEngine) -> Check:
    async def probe() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # a health check reports every failure rather than raising it
        log.warning("healthz: database unreachable (%s)", describe(exc))
        return Check(status="unavailable", reasons=["database_unreachable"])
    return Check(status="ok")


async def _temporal(provider: TemporalClientProvider) -> Check:
    async def probe() -> None:
        client = await provider()
        await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT_S))

    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S * 2)
    except Exception as exc:  # as above
        log.warning("healthz: Temporal unreachable (%s)", describe(exc))
        return Check(status="unavailable", reasons=["temporal_unreachable"])
    return Check(status="ok")


async def _subscriptions(engine: AsyncEngine, settings: Settings) -> Check:
    async def figures() -> Check:
        async with engine.connect() as conn:
            statuses = await subscription_statuses(conn, MONITORED)
        reasons: list[Reason] = []
        if any(
            s.name in MONITORED
            and (
                s.lag_events > settings.health_max_lag_positions
                or s.lag_seconds > settings.health_max_lag_seconds
            )
            for s in statuses
        ):
            reasons.append("subscription_lagging")
        if any(s.dead_letters for s in statuses):
            reasons.append("dead_letters")
        return Check(status="degraded" if reasons else "ok", reasons=reasons)

    try:
        return await asyncio.wait_for(figures(), CHECK_TIMEOUT_S)
    except Exception as exc:  # the database check reports the cause
        log.warning("healthz: subscription figures unavailable (%s)", describe(exc))
        return Check(status="unknown")


@router.get(
    "/healthz",
    summary="Health of the API's dependencies and of the subscriptions",
    responses={
        503: {
            "description": "`unavailable` (the database or Temporal is unreachable) or `degraded` (a "
            "subscription lags beyond `GRIDJOURNEY_HEALTH_MAX_LAG_POSITIONS` events or "
            "`GRIDJOURNEY_HEALTH_MAX_LAG_SECONDS`, or holds dead letters); `reasons` lists the codes "
            "`database_unreachable`, `temporal_unreachable`, `subscription_lagging`, `dead_letters`",
            "model": Health,
        }
    },
)
async def healthz(request: Request, response: Response, engine: EngineDep) -> Health:
    settings: Settings = request.app.state.settings
    database, temporal, subscriptions = await asyncio.gather(
        _database(engine),
        _temporal(request.app.state.temporal_client_provider),
        _subscriptions(engine, settings),
    )
    reasons = [*database.reasons, *temporal.reasons, *subscriptions.reasons]
    if database.status != "ok" or temporal.status != "ok":
        overall: Literal["ok", "degraded", "unavailable"] = "unavailable"
    elif subscriptions.status != "ok":
        overall = "degraded"
    else:
        overall = "ok"
    if overall != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status=overall, reasons=reasons, database=database, temporal=temporal, subscriptions=subscriptions
    )
