"""A cohort backtest's counts against what the engine does with the same events: the router starting
and signalling CohortWorkflow runs on the time-skipping Temporal server, the real cohort activities
(the audience, joins, restorations matched by premise) and the real SEND_COHORT_BATCH (eligibility,
ledger, render, outbox) over Postgres. The shipped journeys: journeys/dr_event.yaml (a program's
members, a tenth held out, a notice, a reminder, a thank-you after dr_performance) and
journeys/outage_notice.yaml (a 5-minute hold, a notice, restorations, still-working updates); and a
schedule trigger's fire, started as its Temporal Schedule starts it (ScheduleFireWorkflow).

Quiet hours are off for informational messages, as in test_matches_engine.py (the send activity
judges them by the wall clock, which a time-skipping run does not follow)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.backtest.run import backtest
from gridjourney.channels.outbox import OutboxSender
from gridjourney.config import Settings
from gridjourney.db.tables import cohort_members, cohort_runs
from gridjourney.devstack import register_search_attributes
from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from gridjourney.schedules.workflow import ScheduleFireInput, ScheduleFireWorkflow, fire_run_id
from gridjourney.worker import cohort_activities
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortState
from tests.backtest.test_matches_engine import all_day, codes
from tests.cohorts.support import until_waiting
from tests.files import write_files
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE

ROOT = Path(__file__).resolve().parents[2]
ZONE = "Europe/London"
# The schedule's audience: customers neither in the DR program nor in the outage (a backtest of one
# journey sees another's messages only once in the send ledger, and does not replay outages).
ELECTRIC = ("o-3", "o-7", "d-19")


def winter_tips(fire: datetime) -> str:
    """A journey that fires once a year, at `fire` (UTC, to the minute)."""
    return f"""
id: winter_tips
purpose: informational
trigger:
  schedule: {{cron: "{fire.minute} {fire.hour} {fire.day} {fire.month} *", zone: UTC}}
  audience: "customer.heating == 'electric'"
steps:
  - id: tips
    send: {{channels: [sms, email], template: winter_tips}}
  - id: a_day_later
    wait: 1d
  - id: checklist
    send: {{channels: [email], template: winter_tips}}
"""


TIPS_EMAIL = "Subject: Winter tips\n\nSeal the drafts."


def new(event_type: str, customer_id: str | None, when: datetime, **payload: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=when,
        source="test",
        payload=payload,
    )


def grid_customers(when: datetime) -> list[NewEvent]:
    """o-0..o-7 on transformers t-0..t-3 (the outage's); d-0..d-19 on t-9, enrolled in ptr but d-7
    (no email, texts refused: its DR messages are suppressed) and d-19 (never enrolled)."""
    events = []
    for prefix, count in (("o", 8), ("d", 20)):
        for i in range(count):
            customer_id = f"{prefix}-{i}"
            events.append(
                new(
                    "customer.created",
                    customer_id,
                    when,
                    name="Ana",
                    phone=f"+1503555{i:02d}{1 if prefix == 'o' else 2}0",
                    email=None if customer_id == "d-7" else f"{customer_id}@example.com",
                    time_zone=ZONE,
                    premise_id=f"p-{customer_id}",
                    transformer_id=f"t-{i % 4}" if prefix == "o" else "t-9",
                    feeder_id="f-1",
                    attributes={"heating": "electric" if customer_id in ELECTRIC else "gas"},
                )
            )
            granted = customer_id != "d-7"
            events.append(
                new(
                    "consent.changed",
                    customer_id,
                    when,
                    channel="sms",
                    purpose="informational",
                    granted=granted,
                    method="web",
                )
            )
            if prefix == "d" and i != 19:
                events.append(new("program.enrolled", customer_id, when, program="ptr"))
    # o-6 refused safety texts: its outage notice goes by email, its still-working update (texts and
    # push only) nowhere
    events.append(
        new("consent.changed", "o-6", when, channel="sms", purpose="safety", granted=False, method="web")
    )
    return events


async def test_cohort_backtest_counts_match_the_engine_on_the_same_events(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, policy: Policy, tmp_path: Path
) -> None:
    env = time_skipping_env
    policy = all_day(policy)
    templates = ROOT / "templates"
    journeys = {}
    for name in ("dr_event", "outage_notice"):
        text = (ROOT / "journeys" / f"{name}.yaml").read_text(encoding="utf-8")
        await registry.publish(engine, text, f"{name}.yaml", templates)
        compiled = await registry.latest(engine, name)
        assert compiled is not None
        journeys[name] = compiled
    now = (await env.get_current_time()).replace(microsecond=0)
    fire = (now + timedelta(hours=2)).replace(second=0)
    winter = tmp_path / "templates"
    shutil.copytree(templates, winter)
    write_files(winter, {"sms/en/winter_tips.j2": "Winter is coming.", "email/en/winter_tips.j2": TIPS_EMAIL})
    await registry.publish(engine, winter_tips(fire), "winter_tips.yaml", winter)
    scheduled = await registry.latest(engine, "winter_tips")
    assert scheduled is not None
    journeys["winter_tips"] = scheduled
    early = [
        *grid_customers(now - timedelta(days=1)),
        new(
            "dr.event_scheduled",
            None,
            now,
            dr_event_id="dr-1",
            program="ptr",
            start=(now + timedelta(days=1)).isoformat(),
            end=(now + timedelta(days=1, hours=2)).isoformat(),
        ),
        new("outage.detected", None, now, incident_id="inc-1", transformer_ids=["t-0", "t-1"]),
        # a second report of the incident: t-2's customers join the run
        new(
            "outage.detected", None, now + timedelta(seconds=1), incident_id="inc-1", transformer_ids=["t-2"]
        ),
        # o-0's power is back within the hold: no notice
        new(
            "outage.restored",
            None,
            now + timedelta(seconds=2),
            incident_id="inc-1",
            premise_ids=["p-o-0"],
            restored_at=(now + timedelta(seconds=2)).isoformat(),
        ),
    ]
    # an hour on, o-1 and o-2 are back; the others time out into `still_working` at 4 h
    later = new(
        "outage.restored",
        None,
        now + timedelta(hours=1),
        incident_id="inc-1",
        premise_ids=["p-o-1", "p-o-2"],
        restored_at=(now + timedelta(hours=1)).isoformat(),
    )
    # the DR event moves while its members wait for it: those told of it hear (an SMS that, with the
    # notice, reminder and thank-you, meets the policy's 3 texts a week)
    moved = new(
        "dr.event_modified",
        None,
        now + timedelta(hours=1),
        dr_event_id="dr-1",
        modification_number=1,
        start=(now + timedelta(days=1, hours=1)).isoformat(),
        end=(now + timedelta(days=1, hours=3)).isoformat(),
    )
    store = EventStore(engine)
    await store.append([*early, moved, later])
    period = (now - timedelta(days=2), now + timedelta(days=2))
    reports = {
        name: await backtest(engine, journey, policy, *period, templates_dir=winter)
        for name, journey in journeys.items()
    }
    later_position = (await store.read_after(0, limit=1000))[-2].position  # the update, then `later`

    await run_engine(engine, env, policy, winter, tmp_path, later_position, journeys["winter_tips"], fire)
    recorded = [e for e in await store.read_after(0, limit=10_000) if e.type.startswith("message.")]

    for name, report in reports.items():
        members, holdout, left = await cohort_figures(engine, name)
        assert (report.cohort_runs, report.entered, report.holdout) == (1, members, holdout), name
        assert report.exits == left, name
        assert report.still_active == 0
        for step_id, step in report.steps.items():
            # an on_update notice's messages: step ids `{event type}#{n}` (workflows/cohort_updates.py)
            notice = step_id.removeprefix("on_update:") + "#"
            mine = [
                e
                for e in recorded
                if e.payload["journey_id"] == name
                and (e.payload["step_id"] == step_id or e.payload["step_id"].startswith(notice))
            ]
            sent = Counter(
                (e.payload["channel"], e.payload["template"], e.payload["locale"])
                for e in mine
                if e.type == "message.sent"
            )
            refused = Counter(
                code for e in mine if e.type == "message.suppressed" for code in codes(e.payload["reason"])
            )
            assert (step.messages, step.suppressed) == (sent, refused), (name, step_id)
    dr, outage = reports["dr_event"], reports["outage_notice"]
    assert dr.entered == 19 and 0 < dr.holdout < 19
    assert dr.steps["thank_you"].reached == 19 and dr.steps["thank_you"].held_out == dr.holdout
    moved_notices = dr.steps["on_update:dr.event_modified"]
    assert sum(moved_notices.messages.values()) == 19 - dr.holdout
    assert dr.steps["thank_you"].suppressed["frequency_cap"] == 19 - dr.holdout
    assert outage.entered == 6 and outage.steps["notice"].messages == {
        ("sms", "outage_detected", "en"): 4,
        ("email", "outage_detected", "en"): 1,
    }
    tips = reports["winter_tips"]
    assert (tips.cohort_runs, tips.entered, tips.entry_examples) == (1, 3, ["d-19", "o-3", "o-7"])
    working = outage.steps["still_working"]
    assert (working.examples, sum(working.messages.values()), working.refused) == (
        ["o-4", "o-5", "o-6"],
        2,
        1,
    )


async def run_engine(
    engine: AsyncEngine,
    env: WorkflowEnvironment,
    policy: Policy,
    templates: Path,
    models: Path,
    later: int,
    scheduled: CompiledJourney,
    fire: datetime,
) -> None:
    """Route the log as the running stack does; the restoration an hour on is routed once the
    members wait for it (past the 5-minute hold); then every run finishes, skipping time."""
    outbox = OutboxSender(engine)
    activities = JourneyActivities(
        engine,
        Settings(templates_dir=templates),
        {"sms": outbox, "email": outbox, "push": outbox},
        policy=policy,
    )
    client = env.client
    await register_search_attributes(client)
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    store, projections = EventStore(engine), ProjectionRunner(engine)
    await projections.catch_up()
    log = await store.read_after(0, limit=1000)
    async with (
        Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[CohortWorkflow, ScheduleFireWorkflow],
            activities=cohort_activities(engine, models),
        ),
        Worker(client, task_queue=SEND_TASK_QUEUE, activities=activities.send_activities),
    ):
        await router.handle([e for e in log if e.position < later])
        outage = client.get_workflow_handle("cohort:outage_notice:inc-1", result_type=CohortState)
        dr = client.get_workflow_handle("cohort:dr_event:dr-1", result_type=CohortState)
        await env.sleep(timedelta(minutes=6))
        await until_waiting(outage, {"await_restoration": 5})
        await projections.catch_up()
        await router.handle([e for e in log if e.position >= later])
        await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            await asyncio.gather(outage.result(), dr.result())
        finally:
            await client.test_service.lock_time_skipping(LockTimeSkippingRequest())
        # the schedule's fire, as its Temporal Schedule would start it (schedules/sync.py)
        await client.execute_workflow(
            ScheduleFireWorkflow.run,
            ScheduleFireInput(journey=scheduled, send_task_queue=SEND_TASK_QUEUE, scheduled_for=fire),
            id=f"fire:{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        tips = client.get_workflow_handle(fire_run_id("winter_tips", fire), result_type=CohortState)
        await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            # (the result of a run a parent started abandoned is not awaited: its state is asked)
            await until_finished(tips)
        finally:
            await client.test_service.lock_time_skipping(LockTimeSkippingRequest())


async def until_finished(handle: WorkflowHandle[Any, CohortState]) -> None:
    for _ in range(300):
        state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        if state.status == "completed":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} is {state.status}")


async def cohort_figures(engine: AsyncEngine, journey_id: str) -> tuple[int, int, Counter[str]]:
    """(members, holdout, members by left_reason) of the journey's runs, as the engine recorded them."""
    async with engine.connect() as conn:
        runs = (await conn.execute(select(cohort_runs).where(cohort_runs.c.journey_id == journey_id))).all()
        run_ids = [run.run_id for run in runs]
        left = Counter(
            row.left_reason
            for row in await conn.execute(
                select(cohort_members.c.left_reason).where(cohort_members.c.run_id.in_(run_ids))
            )
        )
    return sum(run.members for run in runs), sum(run.holdout for run in runs), left
