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

from gridjourney.channels.push import application_server_key, vapid_signer
from gridjourney.config import Settings
from gridjourney.demo.cohort_checks import (
    check_grid_day,
    print_cohort_runs,
)
from gridjourney.demo.compliance import (
    CaseResult,
    Providers,
    check_cases,
    compliance_cases,
    sign_up_events,
)
from gridjourney.demo.dr_feed import DrFeed
from gridjourney.demo.grid_day import (
    DR_JOURNEY,
    outage_detected,
    plan_grid_day,
)
from gridjourney.demo.grid_play import feeder_outage, momentary_restored, move_dr_event
from gridjourney.demo.night import play_night
from gridjourney.demo.scenario import Expectation, build_scenario
from gridjourney.demo.utility import event_id, make_customers
from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.openadr.vtn import LocalVtn
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
    timeout: float = 900,
    vtn: LocalVtn,
) -> bool:
    """True when every journey instance and cohort run of the demo reached its expected state, and
    every compliance case (demo/compliance.py) held, within `timeout` seconds. The DR events come from
    `vtn`, the local OpenADR VTN, through the stack's VEN (the caller runs both)."""
    deadline = time.monotonic() + timeout
    now = datetime.now(UTC)
    population = make_customers(customers, now)
    scenario = build_scenario(population, now)
    # the key an app subscribes with (GET /v1/push/application-server-key serves the same)
    vapid_key = application_server_key(vapid_signer(settings))
    cases = compliance_cases(now, population[0].time_zone, providers.push, vapid_key)
    day = plan_grid_day(
        [*population, *cases.customers],
        now,
        holdout=await _dr_holdout(engine),
        showcased=[cases.cap.customer_id, *(c.customer_id for c in cases.push)],
        capped=cases.cap.customer_id,
    )
    store = EventStore(engine)
    feed = DrFeed(vtn, settings.ven_name)
    # The outages' customers sign up first and the outages follow at once: the router takes the log in
    # order, and the notices wait out the journey's hold while the rest of the day plays.
    signing_up = scenario.onboarding + sign_up_events(cases, now)
    affected = day.outage.members | day.momentary.members
    first = [event for event in signing_up if event.customer_id in affected]
    await _append(store, first, "the outages' customers sign up", console)
    detected_at = datetime.now(UTC)
    await store.append(
        [outage_detected(day.outage, detected_at), outage_detected(day.momentary, detected_at)]
    )
    # Power comes back on the momentary outage's transformer at once, well within the hold.
    await momentary_restored(engine, store, day, console, deadline)
    rest = [event for event in signing_up if event.customer_id not in affected]
    await _append(store, rest, "the other customers sign up", console)
    await _append(store, scenario.day, "a day of events", console)
    console.print(f"  DR events from {feed.origin}")
    for plan in (day.dr, *day.capped):
        feed.schedule(plan)
    await move_dr_event(client, feed, day, console, deadline)
    await feeder_outage(
        engine, client, settings, providers, cases, store, day, detected_at, console, deadline
    )

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("journeys settling", total=len(scenario.expectations))
        while True:
            missing = await _unmet(engine, client, scenario.expectations)
            results = await check_cases(engine, cases, providers)
            grid = await check_grid_day(engine, client, day)
            progress.update(task, completed=len(scenario.expectations) - len(missing))
            settled = not missing and all(result.passed for result in [*results, *grid])
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    with console.status("a night on Temporal's time-skipping server …"):
        results.append(await play_night(engine, settings, cases.night, now))
    await print_summary(engine, console)
    await print_cohort_runs(engine, day, console)
    print_providers(providers, console)
    passed = _print_journey_check(scenario.expectations, missing, console)
    passed = _print_cases("Demo check: cohort runs", grid, console) and passed
    passed = _print_cases("Demo check: compliance cases", results, console) and passed
    if passed:
        console.print(
            "[green]all demo journeys and cohort runs reached their expected states; "
            "every compliance case held[/]"
        )
    return passed


async def played_before(engine: AsyncEngine) -> bool:
    """Whether this home's log already holds the demo. Its events' ids are stable, but their content
    depends on when it played (the zones where it is daytime, the times of the day), so the same ids
    would arrive with other content: the demo plays once per home."""
    first = make_customers(1, datetime.now(UTC))[0]
    return await EventStore(engine).get(event_id("customer.created", first.customer_id)) is not None


async def _dr_holdout(engine: AsyncEngine) -> float:
    journey = await registry.latest(engine, DR_JOURNEY)
    cohort = None if journey is None else journey.definition.cohort
    return 0.0 if cohort is None else cohort.audience.holdout


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


def _print_cases(title: str, results: list[CaseResult], console: Console) -> bool:
    table = Table(title=title)
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
        console.print(f"[red]{title.removeprefix('Demo check: ')} that did not hold: {', '.join(failed)}[/]")
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
