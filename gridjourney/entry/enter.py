"""Entering a customer into a journey: the one place that decides and performs an entry.

The router (for each trigger event) and the API (a manual start) both call `enter_journey`. Temporal's
id policies (gridjourney/entry/plan.py) refuse a duplicate only while Temporal keeps the closed run,
and cannot express a sliding window, so the entry record decides first:

- once, every_trigger: refused when the record holds the instance id;
- once_per_window: refused when the customer entered this journey with a trigger that occurred less
  than `window` before this one (a window sliding from the last entry, not a calendar bucket);
- after_exit: the id is reused by design; Temporal refuses while a run is open, and the starter
  compares the last run's trigger to refuse a redelivery.

The check, the start and the record happen under one advisory lock per journey and customer, so an
API start and the router cannot both pass the check.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry import queries
from gridjourney.entry.plan import entry_plan, kept_out_by_record, window_start
from gridjourney.entry.starter import StartResult, start_journey
from gridjourney.workflows.contracts import EventRef


async def enter_journey(
    engine: AsyncEngine,
    client: Client,
    journey: CompiledJourney,
    customer_id: str,
    trigger: EventRef,
    *,
    position: int,
    task_queue: str,
    send_task_queue: str,
) -> StartResult:
    """Start the journey for the customer unless its re-entry rule keeps them out; record the entry.

    `position` is the event log position the entry is recorded at (the trigger's, or the log's head
    for a manual start, whose trigger is not in the log)."""
    workflow_id = entry_plan(journey, customer_id, trigger).workflow_id
    async with engine.begin() as conn:
        await queries.lock_entries(conn, journey.journey_id, customer_id)
        if await _kept_out_by_record(conn, journey, customer_id, trigger, workflow_id):
            return StartResult(workflow_id, started=False)
        result = await start_journey(
            client, journey, customer_id, trigger, task_queue=task_queue, send_task_queue=send_task_queue
        )
        await queries.record_entry(
            conn,
            result.workflow_id,
            journey.journey_id,
            customer_id,
            position=position,
            entered_at=trigger.occurred_at,
            started=result.started,
        )
    return result


async def _kept_out_by_record(
    conn: AsyncConnection, journey: CompiledJourney, customer_id: str, trigger: EventRef, workflow_id: str
) -> bool:
    entry = journey.definition.entry
    if entry.reentry == "after_exit":
        return False
    recorded = await queries.is_recorded(conn, workflow_id)
    in_window = (
        not recorded
        and entry.reentry == "once_per_window"
        and await queries.entered_after(conn, journey.journey_id, customer_id, window_start(entry, trigger))
    )
    return kept_out_by_record(entry, recorded=recorded, entered_in_window=in_window)
