"""DR_PERFORMANCE_BATCH: the `dr_performance` step of a cohort run, over one batch of members.

Members whose reads cover the event window get a `dr_performance` row (kWh saved against their
10-of-10 like-day baseline, the credit, whether they responded) and move on. The others wait in the
track for later reads (counted `waiting`), unless the workflow has given up waiting: then they move
on without figures (counted `no_reads`). Rows are upserted and members moved in one transaction, so a
retried batch redoes only the members still in the track.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from gridjourney.cohorts.queries import batch_members, move_members
from gridjourney.dr import queries
from gridjourney.dr.gather import load_full_hours
from gridjourney.dr.performance import MemberPerformance, member_performance, window_hours
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import US
from gridjourney.workflows.cohort_contracts import DR_PERFORMANCE_BATCH, BatchOutcome, DrPerformanceInput

FINISHED = "completed"  # left_reason of members whose last step this was
# Members judged between heartbeats: a 500-member batch of 15-minute reads takes several seconds.
MEMBERS_PER_HEARTBEAT = 50


class DrActivities:
    """Activities of the DR performance report (registered on the main task queue by worker.py)."""

    def __init__(self, engine: AsyncEngine, holiday_calendar: str = US) -> None:
        self.engine = engine
        self.holiday_calendar = holiday_calendar  # settings.holiday_calendar, for runs naming none

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [self.dr_performance_batch]

    @activity.defn(name=DR_PERFORMANCE_BATCH)
    async def dr_performance_batch(self, task: DrPerformanceInput) -> BatchOutcome:
        batch = task.batch
        async with self.engine.connect() as conn:
            members = await batch_members(conn, batch)
            ids = [member.customer_id for member in members]
            zones = await queries.time_zones_of(conn, ids)
            subject = await queries.run_subject(conn, batch.run_id)
            rule = await queries.like_day_rule(conn, task.dr_event_id, subject, self.holiday_calendar)
        if not members:
            return BatchOutcome()
        figures: dict[str, MemberPerformance] = {}
        since = task.event_start - timedelta(days=MAX_LOOKBACK_DAYS + 2)
        for offset in range(0, len(ids), MEMBERS_PER_HEARTBEAT):
            part = {
                customer_id: zones[customer_id]
                for customer_id in ids[offset : offset + MEMBERS_PER_HEARTBEAT]
            }
            hourly = await load_full_hours(self.engine, part, since, task.event_end)
            window = window_hours(
                hourly, start=task.event_start, end=task.event_end, time_zones=part, rule=rule
            )
            figures |= member_performance(window)
            # after each part's work, so that a stuck read shows as a missed heartbeat
            activity.heartbeat(offset + len(part))
        measured = [customer_id for customer_id in ids if customer_id in figures]
        waiting = [customer_id for customer_id in ids if customer_id not in figures]
        leaving = measured + waiting if task.give_up else measured
        left_reason = FINISHED if task.next_step is None else None
        async with self.engine.begin() as conn:
            await queries.upsert_performance(
                conn, batch.run_id, task.dr_event_id, list(figures.values()), task.credit_per_kwh
            )
            moved = await move_members(
                conn,
                batch.run_id,
                leaving,
                task.next_step,
                task.next_track,
                left_reason=left_reason,
                from_track=batch.track,
            )
        counts = {
            "measured": len(measured),
            "responded": sum(1 for figure in figures.values() if figure.responded),
            "no_reads" if task.give_up else "waiting": len(waiting),
        }
        return BatchOutcome(
            processed=len(members),
            counts={name: count for name, count in counts.items() if count},
            moved={task.next_track or FINISHED: moved} if moved else {},
        )
