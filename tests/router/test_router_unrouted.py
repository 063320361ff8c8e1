"""A batch of the engine's own records (a cohort send's message events) costs the router nothing: it
neither waits for the projections nor loads the journeys, since it would route none of them."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.activities.send_events import outcome_event
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome
from tests.router.routers import router_on_test_queues


def _sent(customer_id: str) -> NewEvent:
    request = SendMessageInput(
        idempotency_key=f"cohort:run-1:notify:{customer_id}",
        customer_id=customer_id,
        journey_id="dr_event",
        journey_version=1,
        instance_id="cohort:run-1",
        step_id="notify",
        channels=["sms"],
        template="dr_day_ahead",
        purpose="informational",
    )
    return outcome_event(request, SendOutcome(status="sent", channel="sms", provider_message_id="SM1"))


async def test_a_batch_of_message_events_returns_at_once_though_the_projections_lag(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    store = EventStore(engine)
    await store.append([_sent(f"c-{n}") for n in range(3)])
    # No projection runner: their checkpoint never reaches these events, and the router would wait an
    # hour for them before routing anything.
    router = router_on_test_queues(
        engine,
        temporal_dev_env.client,
        projections_wait=3600,
    )
    await asyncio.wait_for(router.handle(await store.read_after(0)), timeout=5)
    assert (router.started, router.signalled) == (0, 0)
