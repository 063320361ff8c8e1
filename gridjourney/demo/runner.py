"""Play the demo against a running stack, wait for its journeys to settle, check and summarise them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.channels.push import application_server_key, vapid_signer
from gridjourney.config import Settings
from gridjourney.demo.compliance import (
    CaseResult,
    ComplianceCases,
    Providers,
    check_cases,
    compliance_cases,
    day_events,
    notice_went_out,
    reply_stop,
    restoration,
    sign_up_events,
)
from gridjourney.demo.night import play_night
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
    providers: Providers,
    console: Console,
    *,
    customers: int,
    timeout: float = 300,
) -> bool:
    """True when every journey instance of the demo reached its expected state, and every compliance
    case (demo/compliance.py) held, within `timeout` seconds."""
    now = datetime.now(UTC)
    population = make_customers(customers, now)
    scenario = build_scenario(population, now)
    # the key an app subscribes with (GET /v1/push/application-server-key serves the same)
    vapid_key = application_server_key(vapid_signer(settings))
    cases = compliance_cases(now, population[0].time_zone, providers.push, vapid_key)
    store = EventStore(engine)
    await _append(store, scenario.onboarding + sign_up_events(cases, now), "customers sign up", console)
    await _append(store, scenario.day + day_events(cases, now), "a day of events", console)
    await _stop_then_restore(engine, settings, providers, cases, store, console, timeout)

    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("journeys settling", total=len(scenario.expectations))
        while True:
            missing = await _unmet(engine, client, scenario.expectations)
            results = await check_cases(engine, cases, providers)
            progress.update(task, completed=len(scenario.expectations) - len(missing))
            settled = not missing and all(result.passed for result in results)
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    with console.status("a night on Temporal's time-skipping server …"):
        results.append(await play_night(engine, settings, cases.night, now))
    await print_summary(engine, console)
    print_providers(providers, console)
    passed = _print_journey_check(scenario.expectations, missing, console)
    passed = _print_cases(results, console) and passed
    if passed:
        console.print("[green]all demo journeys reached their expected states; every compliance case held[/]")
    return passed


async def _with_retries(call: Callable[[], Awaitable[httpx.Response]], attempts: int = 50) -> httpx.Response:
    """The API starts next to the demo: give it a few seconds to listen."""
    for _ in range(attempts - 1):
        try:
            response = await call()
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        response.raise_for_status()
        return response
    response = await call()
    response.raise_for_status()
    return response


async def _stop_then_restore(
    engine: AsyncEngine,
    settings: Settings,
    providers: Providers,
    cases: ComplianceCases,
    store: EventStore,
    console: Console,
    timeout: float,
) -> None:
    """The STOP case in order: the outage text goes out, the customer replies STOP, power comes back."""
    with console.status(f"{cases.stop.customer_id}: waiting for the outage text, then replying STOP …"):
        # the reply comes after the text it answers, however long a busy stack takes to send it
        deadline = time.monotonic() + timeout
        while not await notice_went_out(engine, cases) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await _with_retries(lambda: reply_stop(settings, providers, cases.stop))
    await store.append([restoration(cases, datetime.now(UTC))])


def _print_journey_check(
    expectations: list[Expectation], missing: list[tuple[Expectation, str]], console: Console
) -> bool:
    by_journey = Counter(expectation.journey_id for expectation in expectations)
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
    return not missing


def _print_cases(results: list[CaseResult], console: Console) -> bool:
    table = Table(title="Demo check: compliance cases")
    for column in ("case", "customer", "expected", "observed", "held"):
        table.add_column(column)
    for result in results:
        table.add_row(
            result.case,
            result.customer,
            result.expected,
            result.observed,
            "yes" if result.passed else "[red]NO[/]",
        )
    console.print(table)
    failed = [result.case for result in results if not result.passed]
    if failed:
        console.print(f"[red]compliance cases that did not hold: {', '.join(failed)}[/]")
    return not failed


def print_providers(providers: Providers, console: Console) -> None:
    table = Table(title="At the provider stand-ins")
    for column in ("provider", "received", "where to look"):
        table.add_column(column)
    table.add_row(
        "Twilio (SMS)",
        str(len(providers.sms.received)),
        f"{providers.sms.base_url}/2010-04-01/Accounts/…/Messages.json",
    )
    table.add_row(
        "SendGrid (email)", str(len(providers.email.received)), f"{providers.email.base_url}/standin/emails"
    )
    table.add_row("Web Push", str(len(providers.push.received)), f"{providers.push.base_url}/messages")
    console.print(table)


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
