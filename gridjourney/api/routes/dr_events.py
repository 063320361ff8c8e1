"""`GET /v1/dr-events/{dr_event_id}/performance` (scope `admin`): the program manager's report on one
DR event (gridjourney/dr/report.py), the same figures as `gridjourney dr report EVENT_ID`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from gridjourney.api.deps import Admin, EngineDep
from gridjourney.api.problems import not_found, problem_responses
from gridjourney.dr.gather import UnknownDrEvent
from gridjourney.dr.report import DrEventReport
from gridjourney.dr.report_cache import ReportCache

router = APIRouter(prefix="/v1/dr-events", tags=["dr-events"])


def _reports(request: Request) -> ReportCache:
    """The app's reports, kept until their reads, members or event change (gridjourney/dr/report_cache.py)."""
    state = request.app.state
    if not hasattr(state, "dr_reports"):
        state.dr_reports = ReportCache(default_calendar=state.settings.holiday_calendar)
    cache: ReportCache = state.dr_reports
    return cache


Reports = Annotated[ReportCache, Depends(_reports)]
# As long as a dr_event_id the events door admits (events/fields.py Label). The route takes the rest
# of the path up to /performance, so that an id holding a slash (an OpenADR event id may) is reachable,
# sent as is or percent-encoded.
DrEventIdPath = Annotated[
    str, Path(min_length=1, max_length=100, description="The DR event's id (`dr_event_id`).")
]


@router.get(
    "/{dr_event_id:path}/performance",
    summary="The DR event's performance report",
    description="Members notified, opted out and responded; the kW reduction per event hour of the "
    "treated members against the holdout (each against its own 10-of-10 like-day baseline), with a "
    "bootstrap confidence interval over customers; expected against achieved; by segment. The "
    "report is kept and computed again only when the members' reads over the window and its like "
    "days, the members, the notifications or the event change (`computed_at` says when).",
    responses=problem_responses(401, 403, 404, 422),
)
async def dr_event_performance(
    dr_event_id: DrEventIdPath, _: Admin, engine: EngineDep, reports: Reports
) -> DrEventReport:
    try:
        return await reports.report(engine, dr_event_id)
    except UnknownDrEvent as exc:
        raise not_found("DR event", dr_event_id) from exc
