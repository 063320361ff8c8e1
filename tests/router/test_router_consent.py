"""A consent change that did not apply moves no journey (real Postgres and the Temporal dev server).

After a STOP, a CRM grant dated before it arrives: the consents projection logs it but keeps the STOP
in force (projections/consents.py). The router must not route it either: it starts no journey whose
trigger is consent.changed, and it is not signalled to a run waiting for consent.changed or counting
it as its goal. A grant dated after the STOP did apply: it starts and advances journeys as before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, JourneyState
from tests.events.builders import BASE_TIME, new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router import _entered_instances
from tests.workflows.standins import StandIns, running_workers

WINBACK = """
id: consent_winback
purpose: informational
trigger:
  event: consent.changed
  when: "event.granted"
steps:
  - id: pause
    wait: 3d
"""

AWAIT_CONSENT = """
id: await_consent
purpose: informational
trigger: {event: customer.created}
goal:
  event: consent.changed
  when: "event.granted"
  within: 21d
steps:
  - id: ask
    wait_for:
      event: consent.changed
      when: "event.granted"
      timeout: 7d
      on_event: end
      on_timeout: end
"""


def consent(customer_id: str, granted: bool, minute: int, method: str) -> NewEvent:
    event = new_event(
        "consent.changed",
        customer_id,
        {"channel": "sms", "purpose": "informational", "granted": granted, "method": method},
    )
    return event.model_copy(update={"occurred_at": BASE_TIME + timedelta(minutes=minute)})


async def entered_count(customer: str, standins: StandIns, count: int) -> None:
    for _ in range(200):
        if len(await _entered_instances(customer, standins)) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{customer} did not enter {count} runs: {await _entered_instances(customer, standins)}"
    )


class Routing:
    def __init__(self, engine: AsyncEngine, router: EventRouter) -> None:
        self.store, self.projections, self.router = EventStore(engine), ProjectionRunner(engine), router

    async def route(self, *events: NewEvent) -> None:
        head = await self.store.head()
        await self.store.append(list(events))
        await self.projections.catch_up()
        await self.router.handle(await self.store.read_after(head))


async def test_a_late_grant_older_than_the_stop_starts_and_advances_nothing(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    for source, name in ((WINBACK, "consent_winback.yaml"), (AWAIT_CONSENT, "await_consent.yaml")):
        await registry.publish(engine, source, name, None)
    router = router_on_test_queues(engine, client)
    routing = Routing(engine, router)
    standins = StandIns()
    async with running_workers(client, standins):
        await routing.route(new_event("customer.created", customer, {"name": "Ana"}))
        [waiting] = await _entered_instances(customer, standins)
        assert router.started == 1  # await_consent, now at its wait_for

        await routing.route(consent(customer, False, 10, "sms_reply"))  # STOP: starts nothing
        assert (router.started, router.signalled, router.not_applied) == (1, 1, 0)

        # the CRM catching up: a grant from before the STOP, arriving after it
        await routing.route(consent(customer, True, 5, "crm_sync"))
        assert (router.started, router.signalled, router.not_applied) == (1, 1, 1)
        state = await client.get_workflow_handle(waiting).query(JOURNEY_STATE_QUERY, result_type=JourneyState)
        assert (state.status, state.current_step, state.waiting_for) == ("active", "ask", "consent.changed")
        assert not state.converted
        assert len(await _entered_instances(customer, standins)) == 1

        # redelivered, the batch is judged the same
        await router.handle(await routing.store.read_after((await routing.store.head()) - 1))
        assert (router.started, router.signalled, router.not_applied) == (1, 1, 2)

        # a grant after the STOP did apply: the winback starts, the waiting run converts and ends
        await routing.route(consent(customer, True, 20, "web"))
        assert (router.started, router.signalled, router.not_applied) == (2, 2, 2)
        final = await client.get_workflow_handle(waiting, result_type=JourneyState).result()
        assert (final.status, final.converted) in {("converted", True), ("completed", True)}
        await entered_count(customer, standins, 2)
