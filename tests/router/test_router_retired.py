"""A retired journey, against real Postgres and the Temporal dev server: its trigger events start
nothing, in the very next batch the router reads; the run already going still hears its exit event;
reinstated, the journey starts runs again. The same for a cohort journey."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.contracts import JourneyState
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_cohorts import DR, _dr
from tests.router.test_router import _entered_instances
from tests.workflows.standins import StandIns, running_workers

MISTAKE = """
id: mistaken_watch
purpose: informational
trigger: {event: bill.projection_updated}
entry: {reentry: every_trigger}
exit_on: [bill.issued]
steps:
  - id: pause
    wait: 3d
"""


async def test_a_retired_journey_starts_nothing_and_its_running_run_carries_on(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    early, late = (f"c-{uuid.uuid4().hex[:8]}" for _ in range(2))
    await registry.publish(engine, MISTAKE, "mistaken_watch.yaml", None)
    store = EventStore(engine)
    projections = ProjectionRunner(engine)
    router = router_on_test_queues(engine, client)

    async def route(*events: tuple[str, str, dict[str, object]]) -> None:
        head = await store.head()
        await store.append([new_event(kind, customer, payload) for kind, customer, payload in events])
        await projections.catch_up()
        await router.handle(await store.read_after(head))

    projection: dict[str, object] = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}
    standins = StandIns()
    async with running_workers(client, standins):
        await route(("customer.created", early, {"name": "Ana"}), ("customer.created", late, {"name": "Bo"}))
        await route(("bill.projection_updated", early, projection))
        assert router.started == 1
        [running] = await _entered_instances(early, standins)

        assert await registry.retire(engine, "mistaken_watch", "marketer") is not None
        # the same router, its next batch: the trigger starts nothing, for a new customer or the same
        await route(
            ("bill.projection_updated", late, projection), ("bill.projection_updated", early, projection)
        )
        assert router.started == 1
        # the run going before the retirement still hears its exit event
        await route(("bill.issued", early, {"amount": 180.0}))
        assert router.signalled == 1
        final = await client.get_workflow_handle(running, result_type=JourneyState).result()
        assert (final.status, final.exit_reason) == ("exited", "bill.issued")

        assert await registry.reinstate(engine, "mistaken_watch") is True
        await route(("bill.projection_updated", late, projection))
        assert router.started == 2
        assert len(await _entered_instances(late, standins)) == 1


async def test_a_retired_cohort_journey_starts_no_run_and_its_running_run_hears_updates(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    going, refused, later = (f"dr-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await registry.publish(engine, DR, "ptr_event.yaml", None)
    store = EventStore(engine)
    router = router_on_test_queues(engine, client)

    async def route(*events: NewEvent) -> None:
        head = await store.head()
        await store.append(list(events))
        await ProjectionRunner(engine).catch_up()
        await router.handle(await store.read_after(head))

    await route(_dr("dr.event_scheduled", going, program="ptr"))
    assert router.started == 1
    await registry.retire(engine, "ptr_event", "marketer")
    await route(_dr("dr.event_scheduled", refused, program="ptr"))
    assert router.started == 1
    await route(_dr("dr.event_modified", going, modification_number=1))
    assert router.signalled == 1  # the run started before the retirement hears its updates

    await registry.reinstate(engine, "ptr_event")
    await route(_dr("dr.event_scheduled", later, program="ptr"))
    assert router.started == 2
    for dr_id in (going, later):
        await client.get_workflow_handle(f"cohort:ptr_event:{dr_id}").terminate("test over")
