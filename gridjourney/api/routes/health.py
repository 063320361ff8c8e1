"""`GET /healthz`: can the API reach its database and Temporal? 200 when both answer, else 503."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import text

from gridjourney.api.deps import EngineDep, TemporalClientProvider

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


class Check(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Check
    temporal: Check


async def _database(engine: EngineDep) -> Check:
    async def probe() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # a health check reports every failure rather than raising it
        return Check(status="unavailable", detail=f"{type(exc).__name__}: {exc}")
    return Check(status="ok")


async def _temporal(provider: TemporalClientProvider) -> Check:
    async def probe() -> None:
        client = await provider()
        await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT_S))

    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S * 2)
    except Exception as exc:  # as above
        return Check(status="unavailable", detail=f"{type(exc).__name__}: {exc}")
    return Check(status="ok")


@router.get(
    "/healthz",
    summary="Health of the API's dependencies",
    responses={503: {"description": "The database or Temporal is unreachable", "model": Health}},
)
async def healthz(request: Request, response: Response, engine: EngineDep) -> Health:
    database, temporal = await asyncio.gather(
        _database(engine), _temporal(request.app.state.temporal_client_provider)
    )
    healthy = database.status == temporal.status == "ok"
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if healthy else "unavailable", database=database, temporal=temporal)
