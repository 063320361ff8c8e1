"""`gridjourney journeys retire ID` / `reinstate ID` against a real Postgres (and the Temporal dev
server for a scheduled journey): idempotent, exit 1 for a journey never published, the schedule
deleted on retire and set again on reinstate, --cancel-running cancelling the runs going."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.schedules.sync import schedule_id
from tests.cli.in_process import gridjourney_in_process
from tests.events.builders import new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router import _entered_instances
from tests.workflows.standins import TASK_QUEUE, StandIns, running_workers

ROOT = Path(__file__).resolve().parents[2]
MISTAKE = """\
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - {id: pause, wait: 3d}
"""


async def test_retire_and_reinstate_are_idempotent_and_an_unknown_journey_exits_1(
    engine: AsyncEngine, database_url: str
) -> None:
    await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)

    status, output = await gridjourney_in_process(database_url, "journeys", "retire", "bill_watch")
    assert status == 0, output
    assert "bill_watch: retired" in output and "runs already going carry on" in output
    assert await registry.all_latest(engine) == []
    status, output = await gridjourney_in_process(database_url, "journeys", "retire", "bill_watch")
    assert (status, "bill_watch: already retired" in output) == (0, True)

    status, output = await gridjourney_in_process(database_url, "journeys", "reinstate", "bill_watch")
    assert (status, "bill_watch: reinstated" in output) == (0, True), output
    assert [journey.journey_id for journey in await registry.all_latest(engine)] == ["bill_watch"]
    status, output = await gridjourney_in_process(database_url, "journeys", "reinstate", "bill_watch")
    assert (status, "bill_watch: already active" in output) == (0, True)

    for action in ("retire", "reinstate"):
        status, output = await gridjourney_in_process(database_url, "journeys", action, "no_such_journey")
        assert status == 1
        assert "no published journey 'no_such_journey'" in output


async def test_a_scheduled_journeys_schedule_goes_with_its_state(
    engine: AsyncEngine, database_url: str, temporal_dev_env: WorkflowEnvironment
) -> None:
    source = (ROOT / "journeys" / "winter_prep.yaml").read_text(encoding="utf-8")
    await registry.publish(engine, source, "winter_prep.yaml", ROOT / "templates")
    queue = f"cli-retire-{uuid.uuid4().hex[:8]}"
    env = {
        "GRIDJOURNEY_TEMPORAL_ADDRESS": temporal_dev_env.client.service_client.config.target_host,
        "GRIDJOURNEY_TASK_QUEUE": queue,
        "GRIDJOURNEY_POLICY_FILE": str(ROOT / "policy.yaml"),
    }
    handle = temporal_dev_env.client.get_schedule_handle(schedule_id(queue, "winter_prep"))

    status, output = await gridjourney_in_process(database_url, "journeys", "reinstate", "winter_prep", **env)
    assert status == 0, output
    assert f"schedule {handle.id}: created" in output  # an active journey's schedule, brought in step
    status, output = await gridjourney_in_process(database_url, "journeys", "retire", "winter_prep", **env)
    assert status == 0, output
    assert f"schedule {handle.id}: deleted" in output
    try:
        await handle.describe()
        raise AssertionError("the retired journey's schedule is still there")
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND
    status, output = await gridjourney_in_process(database_url, "journeys", "reinstate", "winter_prep", **env)
    assert (status, f"schedule {handle.id}: created" in output) == (0, True), output
    await handle.delete()


async def test_without_temporal_a_scheduled_journey_is_retired_and_the_command_exits_1(
    engine: AsyncEngine, database_url: str
) -> None:
    source = (ROOT / "journeys" / "winter_prep.yaml").read_text(encoding="utf-8")
    await registry.publish(engine, source, "winter_prep.yaml", ROOT / "templates")
    status, output = await gridjourney_in_process(
        database_url, "journeys", "retire", "winter_prep", GRIDJOURNEY_TEMPORAL_ADDRESS="127.0.0.1:1"
    )
    assert status == 1
    assert "run the command again" in output
    assert await registry.retirement(engine, "winter_prep") is not None


async def test_cancel_running_cancels_the_runs_going(
    engine: AsyncEngine, database_url: str, temporal_dev_env: WorkflowEnvironment
) -> None:
    temporal = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    journey_id = f"cancel_cli_{uuid.uuid4().hex[:8]}"  # the dev server is shared by the session's tests
    await registry.publish(engine, MISTAKE.replace("bill_watch", journey_id), f"{journey_id}.yaml", None)
    store = EventStore(engine)
    projection = {"projected_amount": 200.0, "typical_amount": 100.0, "days_left": 9}
    await store.append([new_event("customer.created", customer, {"name": "Ana"})])
    await store.append([new_event("bill.projection_updated", customer, projection)])
    await ProjectionRunner(engine).catch_up()
    env = {
        "GRIDJOURNEY_TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "GRIDJOURNEY_TASK_QUEUE": TASK_QUEUE,
    }
    standins = StandIns()
    async with running_workers(temporal, standins):
        await router_on_test_queues(engine, temporal).handle(await store.read_after(0))
        [running] = await _entered_instances(customer, standins)
        for _ in range(100):  # Temporal's list shows a new run after a moment: run the command again
            status, output = await gridjourney_in_process(
                database_url, "journeys", "retire", journey_id, "--cancel-running", **env
            )
            assert status == 0, output
            if f"cancelled 1 run(s) going: {running}" in output:
                break
            await asyncio.sleep(0.1)
        assert f"cancelled 1 run(s) going: {running}" in output
        with pytest.raises(WorkflowFailureError):
            await temporal.get_workflow_handle(running).result()
