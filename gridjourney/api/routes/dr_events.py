"""`GET /v1/dr-events/{dr_event_id}/performance` (scope `admin`): the program manager's report on one
DR event (gridjourney/dr/report.py), the same figures as `gridjourney dr report EVENT_ID`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from gridjourney.api.deps import Admin, EngineDep
from gridjourney.api.problems import not_found, problem_responses
from gridjourney.dr.gather import UnknownDrEvent, gather
from gridjourney.dr.report import DrEventReport, build_report

router = APIRouter(prefix="/v1/dr-events", tags=["dr-events"])


@router.get(
    "/{dr_event_id}/performance",
    summary="The DR event's performance report",
    description="Members notified, opted out and responded; the kW reduction per event hour of the "
    "treated members against the holdout (each against its own 10-of-10 like-day baseline), with a "
    "bootstrap confidence interval over customers; expected against achieved; by segment.",
    responses=problem_responses(401, 403, 404),
)
async def dr_event_performance(dr_event_id: str, _: Admin, engine: EngineDep) -> DrEventReport:
    try:
        [data] = await gather(engine, [dr_event_id])
    except UnknownDrEvent as exc:
        raise not_found("DR event", dr_event_id) from exc
    # Baselines and the bootstrap are CPU work: off the event loop.
    return await asyncio.to_thread(build_report, data)
