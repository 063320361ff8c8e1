"""Every SQL statement on `dr_performance` (and the DR reads of the report) is here."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import (
    cohort_members,
    cohort_runs,
    customer_keys,
    customers,
    dr_performance,
    events,
    meter_reads,
)
from gridjourney.dr.like_days import LikeDayRule, rule_of
from gridjourney.dr.performance import MemberPerformance
from gridjourney.metering.holidays import US
from gridjourney.projections.dr_events import DrEventView as DrEventRow
from gridjourney.projections.dr_events import list_dr_events


async def performance_of(
    conn: AsyncConnection, run_id: str, customer_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """customer id → the `performance` namespace of their templates, for members with figures."""
    if not customer_ids:
        return {}
    rows = await conn.execute(
        select(
            dr_performance.c.customer_id,
            dr_performance.c.kwh_saved,
            dr_performance.c.credit,
            dr_performance.c.responded,
        ).where(dr_performance.c.run_id == run_id, any_of(dr_performance.c.customer_id, customer_ids))
    )
    return {
        row.customer_id: {
            "known": True,
            "kwh_saved": round(row.kwh_saved, 1),
            "credit": round(row.credit, 2),
            "responded": row.responded,
        }
        for row in rows
    }


@dataclass(frozen=True)
class DrEventView:
    """A DR event as last scheduled, modified or cancelled."""

    dr_event_id: str
    program: str
    start: datetime
    end: datetime
    signal_level: float | None
    target_kw: float | None
    status: str  # scheduled | cancelled


@dataclass(frozen=True)
class RunView:
    run_id: str
    journey_id: str
    started_at: datetime
    finished_at: datetime | None
    target_kw: float | None
    expected_kw: float | None
    subject: dict[str, Any]
    members: int


@dataclass(frozen=True)
class MemberView:
    customer_id: str
    segment: str | None
    holdout: bool
    time_zone: str


async def upsert_performance(
    conn: AsyncConnection,
    run_id: str,
    dr_event_id: str,
    figures: Collection[MemberPerformance],
    credit_per_kwh: float,
) -> None:
    """Write (or rewrite, when a batch is retried or later reads arrive) each member's figures, but
    none of an erased member's: figures computed from reads read before their erasure committed are
    dropped. Their key rows are locked (shared) first, so an erasure under way (privacy/erasure.py
    locks the row as it destroys the key) is waited for and seen, and one that starts later waits for
    this transaction and then deletes what it wrote (delete_customer_performance)."""
    if not figures:
        return
    ids = sorted({figure.customer_id for figure in figures})
    locked = select(customer_keys.c.customer_id, customer_keys.c.erased_at).where(
        any_of(customer_keys.c.customer_id, ids)
    )
    erased = {
        row.customer_id for row in await conn.execute(locked.with_for_update(read=True)) if row.erased_at
    }
    figures = [figure for figure in figures if figure.customer_id not in erased]
    if not figures:
        return
    c = dr_performance.c
    statement = insert(dr_performance).values(
        [
            {
                "run_id": run_id,
                "customer_id": figure.customer_id,
                "dr_event_id": dr_event_id,
                "baseline_kwh": figure.baseline_kwh,
                "actual_kwh": figure.actual_kwh,
                "kwh_saved": figure.kwh_saved,
                "credit": figure.credit(credit_per_kwh),
                "responded": figure.responded,
            }
            for figure in figures
        ]
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[c.run_id, c.customer_id],
            set_={
                name: statement.excluded[name]
                for name in ("dr_event_id", "baseline_kwh", "actual_kwh", "kwh_saved", "credit", "responded")
            }
            | {"computed_at": func.now()},
        )
    )


async def delete_customer_performance(conn: AsyncConnection, customer_id: str) -> int:
    """Delete the customer's DR figures (their erasure, privacy/erasure.py), in the caller's
    transaction; the number deleted.

    Deleted rather than kept under a token: a row is the household's consumption over an event window
    (baseline and actual kWh), personal data as their meter reads are, which erasure deletes too. No
    total depends on the rows: the program manager's report computes every figure from the members'
    reads (dr/report.py), which are gone with the customer, and a row is read only to fill the
    customer's own thank-you message (performance_of). The bill credit it names is settled by billing
    from its own records, not from this table, so nothing is left that a token could serve."""
    result = await conn.execute(delete(dr_performance).where(dr_performance.c.customer_id == customer_id))
    return result.rowcount


async def time_zones_of(conn: AsyncConnection, customer_ids: Collection[str]) -> dict[str, str]:
    """Each customer's time zone (UTC for a customer the projection does not know)."""
    rows = await conn.execute(
        select(customers.c.customer_id, customers.c.time_zone).where(
            customers.c.customer_id.in_(list(customer_ids))
        )
    )
    zones = {row.customer_id: row.time_zone for row in rows}
    return {customer_id: zones.get(customer_id, "UTC") for customer_id in customer_ids}


def _view(row: DrEventRow) -> DrEventView:
    return DrEventView(
        dr_event_id=row.dr_event_id,
        program=row.program,
        start=row.start_at,
        end=row.end_at,
        signal_level=row.signal_level,
        target_kw=row.target_kw,
        status=row.status,
    )


async def all_dr_events(conn: AsyncConnection) -> dict[str, DrEventView]:
    """The DR events as the `dr_events` projection has them (projections/dr_events.py)."""
    return {row.dr_event_id: _view(row) for row in await list_dr_events(conn)}


async def like_day_rule(
    conn: AsyncConnection, dr_event_id: str | None, subject: dict[str, Any], default_calendar: str = US
) -> LikeDayRule:
    """The like-day rule (dr/like_days.py) for the event `dr_event_id` of a run with this subject:
    the days of every other DR event not cancelled are excluded; holidays of the subject's calendar,
    else of `default_calendar` (settings.holiday_calendar)."""
    others = [
        (event.start, event.end)
        for event in (await all_dr_events(conn)).values()
        if event.dr_event_id != dr_event_id and event.status != "cancelled"
    ]
    return rule_of(subject, others, default_calendar)


async def run_subject(conn: AsyncConnection, run_id: str) -> dict[str, Any]:
    """The subject a cohort run was started with (empty for an unknown run)."""
    subject = (
        await conn.execute(select(cohort_runs.c.subject).where(cohort_runs.c.run_id == run_id))
    ).scalar()
    return dict(subject or {})


async def runs_of_event(conn: AsyncConnection, dr_event_id: str) -> list[RunView]:
    """The cohort runs the event started (one per DR journey), the one with the most members first
    (then the earliest started, then by id): the run whose subject the report reads. A live router
    may also have started the shipped dr_event journey on an imported event, with no members and
    without the imported run's like-day terms; the order of run ids must not choose it."""
    c = cohort_runs.c
    rows = await conn.execute(
        select(
            c.run_id,
            c.journey_id,
            c.started_at,
            c.finished_at,
            c.target_kw,
            c.expected_kw,
            c.subject,
            c.members,
        )
        .where(c.cohort_key == dr_event_id)
        .order_by(c.members.desc(), c.started_at, c.run_id)
    )
    return [RunView(**row._mapping) for row in rows]


async def cohort_keys(conn: AsyncConnection) -> set[str]:
    """The keys (event ids) of every cohort run."""
    return set((await conn.execute(select(cohort_runs.c.cohort_key).distinct())).scalars())


async def members_of_runs(conn: AsyncConnection, run_ids: Collection[str]) -> list[MemberView]:
    """The members of the runs with their segment, holdout flag and time zone (a customer in two runs
    counts once, as treated if treated in either)."""
    m = cohort_members.c
    rows = await conn.execute(
        select(m.customer_id, m.segment, m.holdout, customers.c.time_zone)
        .select_from(cohort_members.outerjoin(customers, customers.c.customer_id == m.customer_id))
        .where(m.run_id.in_(list(run_ids)))
        .order_by(m.customer_id, m.holdout)
    )
    members: dict[str, MemberView] = {}
    for row in rows:
        if row.customer_id not in members:
            members[row.customer_id] = MemberView(
                customer_id=row.customer_id,
                segment=row.segment,
                holdout=row.holdout,
                time_zone=row.time_zone or "UTC",
            )
    return list(members.values())


async def notified_members(conn: AsyncConnection, run_ids: Collection[str]) -> set[str]:
    """Members a message of the run was sent to (message.sent)."""
    rows = await conn.execute(
        select(events.c.customer_id)
        .distinct()
        .where(events.c.type == "message.sent", events.c.payload["instance_id"].astext.in_(list(run_ids)))
    )
    return {row.customer_id for row in rows if row.customer_id is not None}


async def opted_out_members(
    conn: AsyncConnection, customer_ids: Collection[str], since: datetime, until: datetime
) -> set[str]:
    """Members who revoked a consent (STOP included) between `since` and `until`."""
    if not customer_ids:
        return set()
    rows = await conn.execute(
        select(events.c.customer_id)
        .distinct()
        .where(
            events.c.type == "consent.changed",
            events.c.payload["granted"].astext == "false",
            events.c.customer_id.in_(list(customer_ids)),
            events.c.occurred_at >= since,
            events.c.occurred_at < until,
        )
    )
    return {row.customer_id for row in rows}


async def reads_of_runs(
    conn: AsyncConnection, run_ids: Collection[str], start: datetime, end: datetime
) -> int:
    """How many reads of the runs' members lie in [start, end) (a member of two runs counts twice).
    Reads are only ever added (meter_reads keeps the first read of a meter and interval) or erased
    with their customer, so the count changes exactly when the reads a report is computed from do."""
    m = cohort_members.c
    count = await conn.execute(
        select(func.count())
        .select_from(meter_reads.join(cohort_members, m.customer_id == meter_reads.c.customer_id))
        .where(
            m.run_id.in_(list(run_ids)),
            meter_reads.c.read_at >= start,
            meter_reads.c.read_at < end,
        )
    )
    return int(count.scalar_one())


async def record_imported_run(
    conn: AsyncConnection, run: dict[str, Any], members: list[dict[str, Any]]
) -> bool:
    """Store a cohort run of an imported historical trial (its members and holdout known from the
    trial, no journey ran). Returns False when the run was imported before (nothing changes)."""
    created = await conn.execute(
        insert(cohort_runs)
        .values(**run)
        .on_conflict_do_nothing(index_elements=[cohort_runs.c.run_id])
        .returning(cohort_runs.c.run_id)
    )
    if created.first() is None:
        return False
    if members:
        await conn.execute(insert(cohort_members).values(members))
    return True
