"""A night in a few seconds: the high-bill alert of a customer for whom it is 22:00, on Temporal's
time-skipping test server (the same journey, workflow, activities, database and provider stand-ins
as the running stack; only the clock runs faster).

The alert step's own sending hours are 09:00-18:00 (journeys/high_bill_alert.yaml): at 22:00 the
send is deferred, the workflow sleeps on a durable timer, and at 09:00 the send is asked for again
and goes out. The trigger is handed to this one instance directly, not appended to the log, so the
running stack's router does not start a second, real-time copy of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.channels.registry import build_senders, close_senders
from gridjourney.config import Settings
from gridjourney.demo.compliance import CaseResult, local_clock, messages_of
from gridjourney.demo.utility import DemoCustomer, event_id
from gridjourney.devstack import register_search_attributes
from gridjourney.dsl import registry
from gridjourney.entry.starter import start_journey
from gridjourney.temporal import data_converter, test_server_path
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, EventRef, JourneyState
from gridjourney.workflows.journey import JourneyWorkflow

JOURNEY = "high_bill_alert"
ALERT_STEP = "alert"
QUEUE = "demo-night"
NIGHT_CASE = "quiet hours, a night"
NIGHT_EXPECTED = "22:xx high-bill alert sent at 09:00"
NIGHT = timedelta(hours=12)  # from 22:xx to past 09:00, and not as far as the journey's next step (3 days)


class NightStalled(RuntimeError):
    """The night did not reach a point it should have: the case fails, the demo goes on to report."""


async def _until(done: Callable[[], Awaitable[bool]], what: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        if await done():
            return
        await asyncio.sleep(0.1)
    raise NightStalled(what)


async def _alert_is(engine: AsyncEngine, customer: DemoCustomer, *statuses: str) -> bool:
    found = await messages_of(engine, customer.customer_id)
    return any(m.step_id == ALERT_STEP and m.status in statuses for m in found)


async def _closed(handle: WorkflowHandle[Any, JourneyState]) -> bool:
    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


def _trigger(customer: DemoCustomer, now: datetime) -> EventRef:
    return EventRef(
        event_id=str(event_id("night", customer.customer_id)),
        type="bill.projection_updated",
        customer_id=customer.customer_id,
        occurred_at=now,
        payload={"projected_amount": 212.40, "typical_amount": 138.00, "days_left": 12, "currency": "USD"},
        position=0,
    )


async def play_night(
    engine: AsyncEngine, settings: Settings, customer: DemoCustomer, now: datetime
) -> CaseResult:
    journey = await registry.latest(engine, JOURNEY)
    if journey is None:
        raise RuntimeError(f"{JOURNEY} is not published")
    senders = build_senders(settings, engine)
    try:
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter(settings), test_server_existing_path=str(test_server_path())
        ) as env:
            await register_search_attributes(env.client)
            activities = JourneyActivities(engine, settings, senders)
            async with Worker(
                env.client, task_queue=QUEUE, workflows=[JourneyWorkflow], activities=activities.all
            ):
                started = await start_journey(
                    env.client,
                    journey,
                    customer.customer_id,
                    _trigger(customer, now),
                    task_queue=QUEUE,
                    send_task_queue=QUEUE,
                )
                handle = env.client.get_workflow_handle(started.workflow_id, result_type=JourneyState)
                await _until(lambda: _alert_is(engine, customer, "deferred"), "the alert deferred")
                await env.sleep(NIGHT)  # the server skips ahead: the deferral's timer fires at 09:00
                await _until(lambda: _alert_is(engine, customer, "sent", "delivered"), "the alert sent")
                state = await handle.query(JOURNEY_STATE_QUERY, result_type=JourneyState)
                # the rest of the journey (tips in three days) is not the point: it ends here, recorded
                await handle.cancel()
                await _until(lambda: _closed(handle), "the journey's end recorded")
    except NightStalled as stalled:
        return CaseResult(
            NIGHT_CASE, customer.customer_id, NIGHT_EXPECTED, f"stalled before {stalled}", passed=False
        )
    finally:
        await close_senders(senders)
    return await _result(engine, customer, now, state)


async def _result(
    engine: AsyncEngine, customer: DemoCustomer, now: datetime, state: JourneyState
) -> CaseResult:
    zone = customer.time_zone
    alert = next(
        (m for m in await messages_of(engine, customer.customer_id) if m.step_id == ALERT_STEP), None
    )
    step = next((s for s in state.steps_taken if s.step_id == ALERT_STEP), None)
    sent_at = step.completed_at.astimezone(ZoneInfo(zone)) if step else None
    observed = (
        f"triggered {now.astimezone(ZoneInfo(zone)):%H:%M}, {alert.status if alert else 'not sent'} "
        f"by {alert.channel if alert else '-'} at {local_clock(sent_at, zone)}"
    )
    return CaseResult(
        NIGHT_CASE,
        customer.customer_id,
        NIGHT_EXPECTED,
        observed,
        alert is not None
        and alert.status in ("sent", "delivered")
        and sent_at is not None
        and sent_at.hour == 9
        and sent_at.minute < 5,
    )
