"""`gridjourney journeys retire ID` / `reinstate ID` against a real Postgres (and the Temporal dev
server for a scheduled journey): idempotent, exit 1 for a journey never published, the schedule
deleted on retire and set again on reinstate."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.schedules.sync import schedule_id
from tests.cli.in_process import gridjourney_in_process

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
