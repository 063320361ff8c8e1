"""What the DR report needs from the database: the events, their runs and members, who was notified
or opted out, and the members' reads (loaded once for all the events asked about, a group of
customers at a time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr import queries
from gridjourney.dr.like_days import LikeDayRule
from gridjourney.dr.performance import empty_hours, empty_window, full_hours, window_hours
from gridjourney.dr.report import EventData
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import US
from gridjourney.metering.store import load_reads

READS_PER_DAY_AT_MOST = 96  # 15-minute reads
READS_PER_LOAD = 500_000  # reads held in memory at once, about 150 MB as a DataFrame


class UnknownDrEvent(LookupError):
    def __init__(self, dr_event_id: str) -> None:
        super().__init__(f"no DR event {dr_event_id!r}")
        self.dr_event_id = dr_event_id


async def event_ids_with_runs(engine: AsyncEngine, program: str | None = None) -> list[str]:
    """The DR events that started a cohort run (of one program, or all), by start."""
    async with engine.connect() as conn:
        known = await queries.all_dr_events(conn)
        with_runs = await queries.cohort_keys(conn)
    chosen = [e for e in known.values() if e.dr_event_id in with_runs and program in (None, e.program)]
    return [e.dr_event_id for e in sorted(chosen, key=lambda e: (e.start, e.dr_event_id))]


async def gather(
    engine: AsyncEngine, event_ids: Sequence[str], default_calendar: str = US
) -> list[EventData]:
    """One EventData per event id, in order; UnknownDrEvent for an id that is no DR event.
    `default_calendar`: the holidays of a run that names none (settings.holiday_calendar)."""
    datas, rules = await gather_facts(engine, event_ids, default_calendar)
    await fill_windows(engine, datas, rules)
    return datas


async def gather_facts(
    engine: AsyncEngine, event_ids: Sequence[str], default_calendar: str = US
) -> tuple[list[EventData], list[LikeDayRule]]:
    """`gather` without the members' windows (the part computed from reads), with each event's
    like-day rule."""
    datas: list[EventData] = []
    rules: list[LikeDayRule] = []
    async with engine.connect() as conn:
        every = await queries.all_dr_events(conn)
        for event_id in event_ids:
            event = every.get(event_id)
            if event is None:
                raise UnknownDrEvent(event_id)
            runs = await queries.runs_of_event(conn, event_id)
            run_ids = [run.run_id for run in runs]
            members = await queries.members_of_runs(conn, run_ids) if runs else []
            ids = [m.customer_id for m in members]
            since = min((run.started_at for run in runs), default=event.start)
            until = max([event.end, *(run.finished_at for run in runs if run.finished_at)])
            expected = [run.expected_kw for run in runs if run.expected_kw is not None]
            subject = runs[0].subject if runs else {}  # the run with the most members
            rules.append(await queries.like_day_rule(conn, event_id, subject, default_calendar))
            datas.append(
                EventData(
                    event=event,
                    run_ids=run_ids,
                    members=members,
                    window=empty_window(),
                    notified=await queries.notified_members(conn, run_ids) if runs else set(),
                    opted_out=await queries.opted_out_members(conn, ids, since, until),
                    expected_kw=sum(expected) if expected else None,
                )
            )
    return datas, rules


async def fill_windows(engine: AsyncEngine, datas: list[EventData], rules: list[LikeDayRule]) -> None:
    """Each event's members' load against baseline in the event hours, from their reads."""
    zones = {m.customer_id: m.time_zone for data in datas for m in data.members}
    if not zones:
        return
    start = min(data.event.start for data in datas) - timedelta(days=MAX_LOOKBACK_DAYS + 2)
    end = max(data.event.end for data in datas)
    hourly = await load_full_hours(engine, zones, start, end)
    for data, rule in zip(datas, rules, strict=True):
        own = {m.customer_id: m.time_zone for m in data.members}
        data.window = window_hours(
            hourly[hourly["customer_id"].isin(list(own))],
            start=data.event.start,
            end=data.event.end,
            time_zones=own,
            rule=rule,
        )


def customers_per_read_load(start: datetime, end: datetime) -> int:
    """How many customers' reads in [start, end) to load at once: about READS_PER_LOAD reads."""
    per_customer = max(1, (end - start).days + 1) * READS_PER_DAY_AT_MOST
    return max(1, READS_PER_LOAD // per_customer)


async def load_full_hours(
    engine: AsyncEngine, time_zones: dict[str, str], start: datetime, end: datetime
) -> pd.DataFrame:
    """The customers' full local clock hours of kWh (dr/performance.py `full_hours`) from reads in
    [start, end), loaded a group of customers at a time so that memory stays bounded: a customer's
    hours never depend on another's reads."""
    group = customers_per_read_load(start, end)
    customer_ids = sorted(time_zones)
    parts: list[pd.DataFrame] = []
    for offset in range(0, len(customer_ids), group):
        ids = customer_ids[offset : offset + group]
        reads = await load_reads(engine, customer_ids=ids, start=start, end=end)
        parts.append(full_hours(reads, {customer_id: time_zones[customer_id] for customer_id in ids}))
    return pd.concat(parts, ignore_index=True) if parts else empty_hours()
