"""The DR report kept between requests (`GET /v1/dr-events/{id}/performance`), recomputed only when
what it is computed from has changed.

The expensive part of a report is the members' baselines from their reads, and the bootstrap. A
request first gathers the cheap facts (the event as last modified, its runs and members, who was
notified or opted out, the like-day rule) and counts the members' reads from the lookback's first
day to the event's end (dr/queries.py `reads_of_runs`: reads are only ever added or erased, so the
count moves when they do). Those together are the report's key: the same key serves the report
computed before; any change (reads arriving for the window, a member added, the event moved, a new
notification) computes it again. The cache is per process and holds the most recent reports.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr import queries
from gridjourney.dr.gather import fill_windows, gather_facts
from gridjourney.dr.like_days import LikeDayRule
from gridjourney.dr.report import DrEventReport, EventData, build_report
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import US

REPORTS_KEPT = 32


class ReportCache:
    def __init__(self, capacity: int = REPORTS_KEPT, default_calendar: str = US) -> None:
        self.capacity = capacity
        self.default_calendar = default_calendar  # settings.holiday_calendar
        self._reports: OrderedDict[str, tuple[tuple[object, ...], DrEventReport]] = OrderedDict()
        self.computed = 0  # reports computed (not served from the cache): for tests and logs

    async def report(self, engine: AsyncEngine, dr_event_id: str) -> DrEventReport:
        """The event's report (UnknownDrEvent for an id that is no DR event)."""
        [data], [rule] = await gather_facts(engine, [dr_event_id], self.default_calendar)
        key = await _key(engine, data, rule)
        kept = self._reports.get(dr_event_id)
        if kept is not None and kept[0] == key:
            self._reports.move_to_end(dr_event_id)
            return kept[1]
        await fill_windows(engine, [data], [rule])
        # Baselines and the bootstrap are CPU work: off the event loop.
        report = await asyncio.to_thread(build_report, data)
        self.computed += 1
        self._reports[dr_event_id] = (key, report)
        self._reports.move_to_end(dr_event_id)
        while len(self._reports) > self.capacity:
            self._reports.popitem(last=False)
        return report


async def _key(engine: AsyncEngine, data: EventData, rule: LikeDayRule) -> tuple[object, ...]:
    since = data.event.start - timedelta(days=MAX_LOOKBACK_DAYS + 2)
    async with engine.connect() as conn:
        reads = await queries.reads_of_runs(conn, data.run_ids, since, data.event.end) if data.run_ids else 0
    return (
        data.event,
        tuple(data.run_ids),
        hash(tuple(data.members)),
        hash(frozenset(data.notified)),
        hash(frozenset(data.opted_out)),
        data.expected_kw,
        rule,
        reads,
    )
