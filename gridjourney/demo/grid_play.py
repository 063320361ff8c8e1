"""The demo's grid day played in order (demo/grid_day.py): the momentary outage restored within the
hold, the DR event moved once its day-ahead notices are out, and the feeder outage: notices after the
hold, the STOP case's reply, the new estimate, power back at some premises. Each step waits for the run
to reach the point it needs, as the run itself reports it (its state query) or the database shows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from gridjourney.cohorts.queries import where_members_are
from gridjourney.config import Settings
from gridjourney.demo import queries as demo_queries
from gridjourney.demo.cohort_checks import (
    DR_WAIT_STEP,
    ETR_NOTICE,
    OUTAGE_WAIT_STEP,
    decided_by_customer,
    run_messages,
)
from gridjourney.demo.compliance import ComplianceCases, Providers, notice_went_out, reply_stop
from gridjourney.demo.dr_feed import DrFeed
from gridjourney.demo.grid_day import GridDay, etr_updated, restored
from gridjourney.events.store import EventStore
from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortState

POLL = 0.5  # seconds between looks at a run's progress


async def _until(done: Callable[[], Awaitable[bool]], what: str, console: Console, deadline: float) -> bool:
    """Poll until `done` or the demo's deadline (then the checks report what is missing)."""
    with console.status(what):
        while not await done():
            if time.monotonic() > deadline:
                console.print(f"[red]gave up waiting: {what}[/]")
                return False
            await asyncio.sleep(POLL)
    return True


async def _cohort_state(client: Client, run_id: str) -> CohortState | None:
    try:
        state: CohortState = await client.get_workflow_handle(run_id).query(
            COHORT_STATE_QUERY, result_type=CohortState
        )
    except (RPCError, WorkflowQueryFailedError):
        return None  # not started yet
    return state


async def _all_at(client: Client, run_id: str, step_id: str) -> bool:
    """Every member of the run waits at `step_id`, as the run itself sees it."""
    state = await _cohort_state(client, run_id)
    if state is None or state.status != "running" or state.members == 0:
        return False
    tracks = list(state.tracks.values())
    return (
        bool(tracks)
        and all(t.step_id == step_id for t in tracks)
        and sum(t.members for t in tracks) == state.members
    )


async def momentary_restored(
    engine: AsyncEngine, store: EventStore, day: GridDay, console: Console, deadline: float
) -> None:
    """Power comes back on the momentary outage's transformer while its run holds the notice."""

    async def holding() -> bool:
        async with engine.connect() as conn:
            run = (await demo_queries.runs(conn, [day.momentary.run_id])).get(day.momentary.run_id)
        return run is not None and run.status == "running"

    await _until(
        holding, f"{day.momentary.incident_id}: outage on a transformer, holding …", console, deadline
    )
    await store.append([restored(day.momentary, datetime.now(UTC))])


async def move_dr_event(
    client: Client, feed: DrFeed, day: GridDay, console: Console, deadline: float
) -> None:
    """Once the day-ahead notices are out and the run waits for the event, the VTN moves it."""
    await _until(
        lambda: _all_at(client, day.dr.run_id, DR_WAIT_STEP),
        f"{day.dr.dr_event_id}: day-ahead notices to the enrolled customers …",
        console,
        deadline,
    )
    feed.modify(day.dr)


async def feeder_outage(
    engine: AsyncEngine,
    client: Client,
    settings: Settings,
    providers: Providers,
    cases: ComplianceCases,
    store: EventStore,
    day: GridDay,
    detected_at: datetime,
    console: Console,
    deadline: float,
) -> None:
    """The feeder outage in order: the notices after the hold, the STOP case's customer replies STOP
    to theirs, the estimate moves, some premises get power back."""
    outage = day.outage
    await _until(
        lambda: _all_at(client, outage.run_id, OUTAGE_WAIT_STEP),
        f"{outage.incident_id}: holding the notices for 5 minutes (momentary outages get none) …",
        console,
        deadline,
    )
    # the reply comes after the text it answers, however long a busy stack takes to send it
    await _until(
        lambda: notice_went_out(engine, cases), "the outage text to reach Sam Stop …", console, deadline
    )
    await _with_retries(lambda: reply_stop(settings, providers, cases.stop))
    await store.append([etr_updated(outage, detected_at, datetime.now(UTC))])

    async def updated() -> bool:
        found = decided_by_customer(await run_messages(engine, outage.run_id), f"{ETR_NOTICE}1")
        return set(found) >= outage.members

    await _until(updated, f"{outage.incident_id}: the new estimate to every member …", console, deadline)
    await store.append([restored(outage, datetime.now(UTC))])

    async def restoring() -> bool:
        async with engine.connect() as conn:
            where = await where_members_are(conn, outage.run_id)
        return set(where) - {None} == {OUTAGE_WAIT_STEP}

    await _until(
        restoring,
        f"{outage.incident_id}: power back at {len(outage.restored_premises)} premises …",
        console,
        deadline,
    )


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
