"""The backtest's counts against what the engine does with the same events: the router, the journey
workflow on the time-skipping Temporal server and the real activities (eligibility, ledger, outbox)
over Postgres. Entries, re-entry, branches, exits and every message's outcome must agree.

Quiet hours are off here (informational messages allowed all day): the send activity judges them by
the wall clock, which a time-skipping run does not follow; tests/backtest/test_run.py covers the
backtest's deferrals."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.backtest.run import backtest
from gridjourney.channels.outbox import OutboxSender
from gridjourney.config import Settings
from gridjourney.db.tables import routed_instances
from gridjourney.devstack import register_search_attributes
from gridjourney.dsl import registry
from gridjourney.dsl.windows import TimeWindow
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import JourneyState
from gridjourney.workflows.journey import JourneyWorkflow
from tests.backtest.builders import JOURNEY, customer, new, projection, write_templates
from tests.workflows.helpers import waiting_at
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE


def all_day(policy: Policy) -> Policy:
    rules = policy.rules("informational").model_copy(
        update={"sending_hours": [TimeWindow.parse("00:00-24:00")]}
    )
    return policy.model_copy(update={"purposes": {**policy.purposes, "informational": rules}})


def codes(reason: str) -> list[str]:
    """`sms: consent_revoked; email: no_consent (detail)` → [consent_revoked, no_consent]."""
    return [part.split(": ", 1)[1].split(" (")[0] for part in reason.split("; ")]


async def test_backtest_counts_match_the_engine_on_the_same_events(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, policy: Policy, tmp_path: Path
) -> None:
    policy = all_day(policy)
    templates = write_templates(tmp_path / "templates")
    journey = (await registry.publish(engine, JOURNEY, "bill_nudge.yaml", templates)).journey_id
    compiled = await registry.latest(engine, journey)
    assert compiled is not None
    now = datetime.now(UTC).replace(microsecond=0)
    store = EventStore(engine)
    await store.append(
        [
            *customer("c-sent", now - timedelta(hours=1), phone="+15035550101", email="a@example.com"),
            *customer("c-revoked", now - timedelta(hours=1), phone="+15035550102", grants=("sms",)),
            new(
                "consent.changed",
                "c-revoked",
                now - timedelta(minutes=30),
                channel="sms",
                purpose="informational",
                granted=False,
                method="web",
            ),
            *customer("c-gas", now - timedelta(hours=1), email="g@example.com", heating="gas"),
            *customer("c-exit", now - timedelta(hours=1), phone="+15035550104", email="e@example.com"),
            *customer("c-low", now - timedelta(hours=1), phone="+15035550105"),
            projection("c-sent", now),
            projection("c-revoked", now),
            projection("c-gas", now),
            projection("c-exit", now),
            projection("c-low", now, amount=50.0),
            projection("c-sent", now + timedelta(seconds=1)),  # inside the 30-day window: kept out
        ]
    )
    exit_event = new("bill.issued", "c-exit", now + timedelta(seconds=2), amount=150.0)
    period = (now - timedelta(days=1), now + timedelta(days=1))

    # the backtest first, over the log before the engine adds its own records
    await store.append([exit_event])
    report = await backtest(engine, compiled, policy, *period, templates_dir=templates)
    exit_position = (await store.read_after(0, limit=1000))[-1].position

    await run_engine(engine, time_skipping_env, policy, templates, exit_position)
    recorded = [
        e for e in await store.read_after(0, limit=10_000) if e.type.startswith(("journey.", "message."))
    ]

    entered = [str(e.customer_id) for e in recorded if e.type == "journey.entered"]
    assert report.entered == len(entered) == 4
    assert sorted(report.entry_examples) == sorted(entered)
    assert report.exits == Counter(e.payload["reason"] for e in recorded if e.type == "journey.exited")
    completed = Counter(
        (e.payload["step_id"], e.payload["outcome"]) for e in recorded if e.type == "journey.step_completed"
    )
    assert report.steps["route"].outcomes == {"tips": 2, "end": 1}
    assert report.steps["route"].outcomes == {o: n for (s, o), n in completed.items() if s == "route"}
    for step in ("alert", "tips"):
        sent = Counter(
            (e.payload["channel"], e.payload["template"], e.payload["locale"])
            for e in recorded
            if e.type == "message.sent" and e.payload["step_id"] == step
        )
        refused = Counter(
            code
            for e in recorded
            if e.type == "message.suppressed" and e.payload["step_id"] == step
            for code in codes(e.payload["reason"])
        )
        assert report.steps[step].messages == sent, step
        assert report.steps[step].suppressed == refused, step
        suppressed = [e for e in recorded if e.type == "message.suppressed" and e.payload["step_id"] == step]
        assert report.steps[step].refused == len(suppressed), step
    assert report.steps["alert"].suppressed == {"consent_revoked": 1, "no_consent": 1}
    assert sum(report.steps["alert"].messages.values()) == 3
    assert report.steps["tips"].suppressed == {"no_consent": 1}  # c-revoked never granted email


async def run_engine(
    engine: AsyncEngine, env: WorkflowEnvironment, policy: Policy, templates: Path, exit_position: int
) -> None:
    """Route the log as the running stack does and let every run finish, skipping time. The exit event
    is routed once its customer waits at `pause`, as it would arrive two seconds after the alert."""
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
            workflows=[JourneyWorkflow],
            activities=activities.journey_activities,
        ),
        Worker(client, task_queue=SEND_TASK_QUEUE, activities=activities.send_activities),
    ):
        await router.handle([e for e in log if e.position < exit_position])
        handles = [
            client.get_workflow_handle(instance_id, result_type=JourneyState)
            for instance_id in await instance_ids(engine)
        ]
        exiting = next(h for h in handles if ":c-exit" in h.id)
        await waiting_at(exiting, "pause")
        await projections.catch_up()
        await router.handle(exit_only(log, exit_position))
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            await asyncio.gather(*(handle.result() for handle in handles))
        finally:
            await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())
        await projections.catch_up()


def exit_only(log: list[StoredEvent], position: int) -> list[StoredEvent]:
    return [e for e in log if e.position == position]


async def instance_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [row.instance_id for row in await conn.execute(select(routed_instances.c.instance_id))]


WELCOME = """
id: welcome_batch
purpose: informational
trigger: {event: customer.created}
entry: {reentry: once}
steps:
  - id: welcome
    send: {channels: [sms, email], template: welcome}
"""


async def test_backtest_reads_consent_appended_with_the_trigger_as_the_engine_does(
    engine: AsyncEngine, time_skipping_env: WorkflowEnvironment, policy: Policy, tmp_path: Path
) -> None:
    """customer.created and consent.changed posted in one batch at one time (the README tour, the
    demo's sign-ups): the router handles the trigger once the projections have folded the whole
    append, so the welcome goes out with that consent; the backtest must say so too."""
    policy = all_day(policy)
    templates = write_templates(tmp_path / "templates")
    for channel, text in (
        ("sms", "Welcome! Reply STOP to opt out."),
        ("email", "Subject: Welcome\n\nHello."),
    ):
        (templates / channel / "en" / "welcome.j2").write_text(text, encoding="utf-8")
    journey = (await registry.publish(engine, WELCOME, "welcome_batch.yaml", templates)).journey_id
    compiled = await registry.latest(engine, journey)
    assert compiled is not None
    now = datetime.now(UTC).replace(microsecond=0)
    store = EventStore(engine)
    await store.append(
        [
            *customer("c-batch", now, phone="+15035550111", grants=("sms",)),
            *customer("c-mail", now, email="m@example.com", grants=("email",)),
            *customer("c-none", now, phone="+15035550113", grants=()),
        ]
    )
    period = (now - timedelta(days=1), now + timedelta(days=1))
    report = await backtest(engine, compiled, policy, *period, templates_dir=templates)

    await run_batch(engine, time_skipping_env, policy, templates)
    recorded = await store.read_after(0, limit=1000)
    sent = Counter(
        (e.payload["channel"], e.payload["template"], e.payload["locale"])
        for e in recorded
        if e.type == "message.sent"
    )
    refused = Counter(
        code for e in recorded if e.type == "message.suppressed" for code in codes(e.payload["reason"])
    )
    assert sent == {("sms", "welcome", "en"): 1, ("email", "welcome", "en"): 1}
    assert refused == {"no_consent": 2}  # c-none, on both channels
    assert report.entered == 3
    assert report.steps["welcome"].messages == sent
    assert report.steps["welcome"].suppressed == refused


async def run_batch(engine: AsyncEngine, env: WorkflowEnvironment, policy: Policy, templates: Path) -> None:
    """The running stack on the whole log: projections first (the router waits for them), then the
    router, then every run to its end."""
    outbox = OutboxSender(engine)
    activities = JourneyActivities(
        engine,
        Settings(templates_dir=templates),
        {"sms": outbox, "email": outbox, "push": outbox},
        policy=policy,
    )
    await register_search_attributes(env.client)
    router = EventRouter(engine, env.client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    projections = ProjectionRunner(engine)
    await projections.catch_up()
    async with (
        Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[JourneyWorkflow],
            activities=activities.journey_activities,
        ),
        Worker(env.client, task_queue=SEND_TASK_QUEUE, activities=activities.send_activities),
    ):
        await router.handle(await EventStore(engine).read_after(0, limit=1000))
        handles = [
            env.client.get_workflow_handle(instance_id, result_type=JourneyState)
            for instance_id in await instance_ids(engine)
        ]
        await asyncio.gather(*(handle.result() for handle in handles))
        await projections.catch_up()
