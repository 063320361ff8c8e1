"""How the demo checks its cohort runs (demo/grid_day.py), and the table that shows them.

DR notice        the enrolled customers are the members; every one not held out has a decision on the
                 day-ahead notice; the holdout got nothing
DR modification  the run follows the VTN's new start: its wait's timer is re-aimed at the new start
                 less an hour, and the members wait there
outage notice    one notice per premise of the feeder, after the hold
ETR update       one update per member, for the estimate that moved by more than 30 minutes
restoration      "restored" to the restored premises only; the others still wait
momentary        restored within the hold: its customers got nothing
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from gridjourney.cohorts.queries import where_members_are
from gridjourney.demo import queries as demo_queries
from gridjourney.demo.compliance import SENT, CaseResult
from gridjourney.demo.grid_day import DrEventPlan, GridDay, OutagePlan
from gridjourney.projections import queries
from gridjourney.projections.queries import MessageView

DR_NOTICE_STEP = "day_ahead_notice"
DR_WAIT_STEP = "until_an_hour_before"
DR_WAIT_BEFORE = timedelta(hours=1)  # journeys/dr_event.yaml: `until: event.start, before: 1h`
OUTAGE_NOTICE_STEP = "notice"
OUTAGE_WAIT_STEP = "await_restoration"
RESTORED_STEP = "restored"
ETR_NOTICE = "outage.etr_updated#"  # on_update notices are keyed `{event type}#{n}` (workflows/cohort.py)
TIMER_SLACK = timedelta(minutes=2)
RUN_MESSAGES = 100_000


async def run_messages(engine: AsyncEngine, run_id: str) -> list[MessageView]:
    async with engine.connect() as conn:
        return await queries.list_messages(conn, instance_id=run_id, limit=RUN_MESSAGES)


async def check_grid_day(engine: AsyncEngine, client: Client, day: GridDay) -> list[CaseResult]:
    return [
        await _dr_notice(engine, day),
        await _dr_modification(engine, client, day.dr),
        await _outage_notice(engine, day.outage),
        await _etr_update(engine, day.outage),
        await _restoration(engine, day),
        await _momentary(engine, day.momentary),
    ]


def decided_by_customer(found: list[MessageView], step_id: str) -> dict[str, list[MessageView]]:
    """Messages of a step by customer, the deferred ones left out (not decided yet)."""
    by_customer: dict[str, list[MessageView]] = {}
    for message in found:
        if message.step_id == step_id and message.status != "deferred" and message.customer_id:
            by_customer.setdefault(message.customer_id, []).append(message)
    return by_customer


def _channels(found: list[MessageView]) -> str:
    sent = Counter(m.channel for m in found if m.status in SENT)
    return ", ".join(f"{count} {channel}" for channel, count in sorted(sent.items())) or "none sent"


async def _dr_notice(engine: AsyncEngine, day: GridDay) -> CaseResult:
    async with engine.connect() as conn:
        members = await demo_queries.members(conn, day.dr.run_id)
    found = await run_messages(engine, day.dr.run_id)
    notices = decided_by_customer(found, DR_NOTICE_STEP)
    treated = {m.customer_id for m in members if not m.holdout}
    held = {m.customer_id for m in members if m.holdout}
    everyone = {m.customer_id for m in members}
    passed = (
        bool(members) and everyone == day.enrolled and set(notices) == treated and not held & set(notices)
    )
    return CaseResult(
        "DR notice",
        f"{day.dr.dr_event_id}: {len(members)} members",
        f"{len(day.enrolled)} enrolled, less the holdout, notified",
        f"{len(everyone)} members, {len(held)} held out (sent nothing), {len(notices)} decided: "
        f"{_channels([m for ms in notices.values() for m in ms])}",
        passed,
    )


async def _timer_fires(client: Client, run_id: str) -> list[datetime]:
    """When each timer the run started was due to fire, in the order started."""
    try:
        history = await client.get_workflow_handle(run_id).fetch_history()
    except RPCError:
        return []
    fires = []
    for event in history.events:
        if event.HasField("timer_started_event_attributes"):
            started = event.event_time.ToDatetime(tzinfo=UTC)
            fires.append(started + event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
    return fires


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _near(moment: datetime, target: datetime) -> bool:
    return abs(moment - target) <= TIMER_SLACK


async def _dr_modification(engine: AsyncEngine, client: Client, plan: DrEventPlan) -> CaseResult:
    assert plan.new_start is not None
    async with engine.connect() as conn:
        run = (await demo_queries.runs(conn, [plan.run_id])).get(plan.run_id)
        waiting = await where_members_are(conn, plan.run_id)
    fires = await _timer_fires(client, plan.run_id)
    first, moved = plan.start - DR_WAIT_BEFORE, plan.new_start - DR_WAIT_BEFORE
    start = _moment(run.subject.get("start")) if run else None
    still = {step: n for step, n in waiting.items() if step is not None}
    passed = (
        run is not None
        and start == plan.new_start
        and any(_near(fire, first) for fire in fires)
        and bool(fires)
        and _near(fires[-1], moved)
        and set(still) == {DR_WAIT_STEP}
    )
    return CaseResult(
        "DR modification",
        plan.dr_event_id,
        f"start {plan.start:%H:%M} → {plan.new_start:%H:%M} UTC: wait re-aimed",
        f"timers at {', '.join(f'{fire:%H:%M}' for fire in fires) or '-'} UTC; "
        f"waiting: {', '.join(f'{n} at {step}' for step, n in still.items()) or '-'}",
        passed,
    )


async def _outage_notice(engine: AsyncEngine, plan: OutagePlan) -> CaseResult:
    async with engine.connect() as conn:
        members = await demo_queries.members(conn, plan.run_id)
    notices = decided_by_customer(await run_messages(engine, plan.run_id), OUTAGE_NOTICE_STEP)
    premises = Counter(m.premise_id for m in members)
    everyone = {m.customer_id for m in members}
    passed = (
        everyone == plan.members
        and set(notices) == everyone
        and all(len(found) == 1 for found in notices.values())
        and all(count == 1 for count in premises.values())
    )
    return CaseResult(
        "outage notice",
        f"{plan.incident_id}: feeder {', '.join(plan.feeder_ids)}",
        "one notice per premise, after the hold",
        f"{len(premises)} premises, {len(notices)} notices: "
        f"{_channels([m for ms in notices.values() for m in ms])}",
        passed,
    )


async def _etr_update(engine: AsyncEngine, plan: OutagePlan) -> CaseResult:
    found = await run_messages(engine, plan.run_id)
    notices = sorted({m.step_id for m in found if m.step_id and m.step_id.startswith(ETR_NOTICE)})
    updates = decided_by_customer(found, f"{ETR_NOTICE}1")
    passed = notices == [f"{ETR_NOTICE}1"] and set(updates) == plan.members
    return CaseResult(
        "ETR update",
        plan.incident_id,
        "one update (moved 90 min > 30 min) to each member",
        f"{len(notices)} update notice(s), to {len(updates)} of {len(plan.members)} members: "
        f"{_channels([m for ms in updates.values() for m in ms])}",
        passed,
    )


async def _restoration(engine: AsyncEngine, day: GridDay) -> CaseResult:
    plan = day.outage
    async with engine.connect() as conn:
        members = await demo_queries.members(conn, plan.run_id)
    restored = decided_by_customer(await run_messages(engine, plan.run_id), RESTORED_STEP)
    out = {m.customer_id for m in members if m.customer_id not in day.restored_customers}
    still_waiting = {m.customer_id for m in members if m.step_id == OUTAGE_WAIT_STEP}
    passed = bool(day.restored_customers) and set(restored) == day.restored_customers and still_waiting == out
    return CaseResult(
        "partial restoration",
        f"{plan.incident_id}: {len(plan.restored_premises)} premises",
        "restored to those premises only; the rest wait",
        f"{len(restored)} restored notices ({_channels([m for ms in restored.values() for m in ms])}); "
        f"{len(still_waiting)} of {len(out)} others at {OUTAGE_WAIT_STEP}",
        passed,
    )


async def _momentary(engine: AsyncEngine, plan: OutagePlan) -> CaseResult:
    async with engine.connect() as conn:
        run = (await demo_queries.runs(conn, [plan.run_id])).get(plan.run_id)
        members = await demo_queries.members(conn, plan.run_id)
    found = await run_messages(engine, plan.run_id)
    finished = all(m.step_id is None for m in members)
    passed = (
        run is not None
        and {m.customer_id for m in members} == plan.members
        and bool(members)
        and finished
        and not found
    )
    return CaseResult(
        "momentary outage",
        f"{plan.incident_id}: {', '.join(plan.transformer_ids)}",
        "restored within the hold: nothing sent",
        f"{len(members)} members, {'all finished' if finished else 'still waiting'}, {len(found)} messages",
        passed,
    )


async def print_cohort_runs(engine: AsyncEngine, day: GridDay, console: Console) -> None:
    """Per run: journey, key, members, holdout, sent by channel, where members wait, status."""
    plans: list[DrEventPlan | OutagePlan] = [day.dr, *day.capped, day.outage, day.momentary]
    table = Table(title="Cohort runs")
    for column in ("journey", "key", "members", "holdout", "sent", "waiting at", "status"):
        table.add_column(column)
    async with engine.connect() as conn:
        rows = await demo_queries.runs(conn, [plan.run_id for plan in plans])
        where = {plan.run_id: await where_members_are(conn, plan.run_id) for plan in plans}
    for plan in plans:
        run = rows.get(plan.run_id)
        if run is None:
            table.add_row("-", plan.run_id, "-", "-", "-", "-", "not started")
            continue
        at_steps = sorted((step, n) for step, n in where[plan.run_id].items() if step is not None)
        waiting = ", ".join(f"{n} {step}" for step, n in at_steps) or "-"
        table.add_row(
            run.journey_id,
            run.cohort_key,
            str(run.members),
            str(run.holdout),
            _channels(await run_messages(engine, plan.run_id)),
            waiting,
            run.status,
        )
    console.print(table)
