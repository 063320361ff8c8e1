"""Play the demo against a running stack, wait for its journeys to settle, check and summarise them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.config import Settings
from gridjourney.demo.scenario import Expectation, build_scenario
from gridjourney.demo.utility import make_customers
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections import queries
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, JourneyState

BATCH = 200


async def run_demo(
    engine: AsyncEngine,
    client: Client,
    settings: Settings,
    console: Console,
    *,
    customers: int,
    timeout: float = 300,
) -> bool:
    """True when every journey instance of the demo reached its expected state within `timeout` seconds."""
    now = datetime.now(UTC)
    scenario = build_scenario(make_customers(customers, now), now)
    store = EventStore(engine)
    await _append(store, scenario.onboarding, "customers sign up", console)
    await _append(store, scenario.day, "a day of events", console)

    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("journeys settling", total=len(scenario.expectations))
        while True:
            missing = await _unmet(engine, client, scenario.expectations)
            progress.update(task, completed=len(scenario.expectations) - len(missing))
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    await print_summary(engine, console)
    by_journey = Counter(expectation.journey_id for expectation in scenario.expectations)
    unmet = Counter(expectation.journey_id for expectation, _ in missing)
    table = Table(title="Demo check: journeys in their expected state")
    for column in ("journey", "instances", "as expected", "first problem"):
        table.add_column(column)
    for journey_id, total in sorted(by_journey.items()):
        problem = next(
            (reason for expectation, reason in missing if expectation.journey_id == journey_id), ""
        )
        table.add_row(journey_id, str(total), str(total - unmet[journey_id]), problem)
    console.print(table)
    if missing:
        console.print(f"[red]{len(missing)} journey instances did not reach their expected state[/]")
        return False
    console.print("[green]all demo journeys reached their expected states[/]")
    return True


async def _append(store: EventStore, events: list[NewEvent], label: str, console: Console) -> None:
    with Progress(console=console) as progress:
        task = progress.add_task(label, total=len(events))
        for start in range(0, len(events), BATCH):
            await store.append(events[start : start + BATCH])
            progress.advance(task, min(BATCH, len(events) - start))


async def _unmet(
    engine: AsyncEngine, client: Client, expectations: list[Expectation]
) -> list[tuple[Expectation, str]]:
    async with engine.connect() as conn:
        instances = await queries.instances_by_customer(conn)
        decided = await queries.decided_steps(conn)
    missing: list[tuple[Expectation, str]] = []
    for expectation in expectations:
        instance = instances.get((expectation.journey_id, expectation.customer_id))
        if instance is None:
            missing.append((expectation, f"{expectation.customer_id}: not entered"))
            continue
        if instance.status != expectation.status:
            missing.append(
                (expectation, f"{expectation.customer_id}: {instance.status}, not {expectation.status}")
            )
            continue
        if not instance.holdout:
            undecided = [
                step for step in expectation.sent_steps if (instance.instance_id, step) not in decided
            ]
            if undecided:
                missing.append((expectation, f"{expectation.customer_id}: no message for {undecided[0]}"))
                continue
        if expectation.waiting_at is not None:
            state = await client.get_workflow_handle(instance.instance_id).query(
                JOURNEY_STATE_QUERY, result_type=JourneyState
            )
            if state.current_step != expectation.waiting_at:
                missing.append((expectation, f"{expectation.customer_id}: at {state.current_step}"))
    return missing


async def print_summary(engine: AsyncEngine, console: Console) -> None:
    journeys = Table(title="Journeys")
    for column in ("journey", "status", "instances"):
        journeys.add_column(column)
    async with engine.connect() as conn:
        journey_rows = await queries.journey_status_counts(conn)
        message_rows = await queries.message_counts(conn)
    for journey_id, status, count in journey_rows:
        journeys.add_row(journey_id, status, str(count))
    console.print(journeys)
    messages = Table(title="Messages")
    for column in ("status", "channel", "template", "reason", "count"):
        messages.add_column(column)
    for status, channel, template, reason, count in message_rows:
        messages.add_row(status, channel, template, reason, str(count))
    console.print(messages)
