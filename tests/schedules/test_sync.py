"""Schedule triggers on the real Temporal dev server (the time-skipping server has no Schedules):
the sync creates, updates and deletes a journey's Schedule, and a fire runs a cohort that texts the
audience, through the real cohort and send activities and the Twilio stand-in, once per fire time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleDescription
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.dsl.schedule import fire_times
from gridjourney.schedules.sync import Queues, existing_ids, schedule_id, sync
from gridjourney.schedules.workflow import ScheduleFireInput, ScheduleFireWorkflow, fire_run_id
from gridjourney.worker import cohort_activities
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import CohortState
from tests.activities.conftest import (  # noqa: F401
    activities,
    add_customer,
    senders,
    settings,
    standin,
    templates_dir,
)
from tests.workflows.standins import compiled

ZONE = "America/Chicago"
ZONE_NY = ZoneInfo("America/New_York")


def journey_yaml(journey_id: str, schedule: str = '{month: november, day: 1, at: "10:00"}') -> str:
    return f"""
id: {journey_id}
purpose: marketing
trigger:
  schedule: {schedule}
  audience: "customer.heating == 'electric'"
steps:
  - id: tips
    send: {{channels: [sms], template: winter}}
"""


def queues() -> Queues:
    suffix = uuid.uuid4().hex[:8]
    return Queues(task_queue=f"schedules-{suffix}", send_task_queue=f"schedule-sends-{suffix}", batch_size=2)


async def described(client: Client, queue: str, journey_id: str) -> ScheduleDescription:
    return await client.get_schedule_handle(schedule_id(queue, journey_id)).describe()


async def listed(client: Client, queue: str, wanted: set[str]) -> None:
    """Until Temporal's list (which lags a change briefly) shows exactly `wanted`."""
    for _ in range(100):
        if set(await existing_ids(client, queue)) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the schedules listed are {await existing_ids(client, queue)}, not {wanted}")


async def test_the_sync_creates_updates_and_deletes_the_journeys_schedules(
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    client, where = temporal_dev_env.client, queues()
    yearly = compiled(journey_yaml("winter_sync"))
    event_triggered = compiled(
        "id: plain\npurpose: informational\ntrigger: bill.issued\n"
        "steps:\n  - {id: tell, send: {channels: [sms], template: tell}}\n"
    )

    changes = await sync(client, [yearly, event_triggered], where, ZONE)
    assert [(c.journey_id, c.change, c.cron, c.zone) for c in changes] == [
        ("winter_sync", "created", "0 10 1 11 *", ZONE)
    ]
    first = await described(client, where.task_queue, "winter_sync")
    spec = yearly.definition.schedule
    assert spec is not None and spec.schedule is not None
    expected = fire_times(spec.schedule, ZONE, datetime.now(UTC), 3)
    assert first.info.next_action_times[:3] == [fire.astimezone(UTC) for fire in expected]
    assert [c.change for c in await sync(client, [yearly], where, ZONE)] == ["unchanged"]

    # an operator pauses it; a new version (Mondays at 07:30, in New York) keeps it paused
    await client.get_schedule_handle(schedule_id(where.task_queue, "winter_sync")).pause(note="held")
    weekly = compiled(
        journey_yaml("winter_sync", '{weekday: monday, at: "07:30", zone: America/New_York}'), 2
    )
    assert [c.change for c in await sync(client, [weekly], where, ZONE)] == ["updated"]
    second = await described(client, where.task_queue, "winter_sync")
    assert second.schedule.state.paused
    new_york = second.info.next_action_times[0]
    weekly_spec = weekly.definition.schedule
    assert weekly_spec is not None and weekly_spec.schedule is not None
    assert new_york == fire_times(weekly_spec.schedule, ZONE, datetime.now(UTC), 1)[0].astimezone(UTC)
    assert new_york.astimezone(ZONE_NY).strftime("%a %H:%M") == "Mon 07:30"

    await listed(client, where.task_queue, {schedule_id(where.task_queue, "winter_sync")})
    changes = await sync(client, [event_triggered], where, ZONE)  # winter_sync lost its schedule
    assert [(c.journey_id, c.change) for c in changes] == [("winter_sync", "deleted")]
    await listed(client, where.task_queue, set())


@asynccontextmanager
async def fire_workers(
    client: Client, engine: AsyncEngine, journey: JourneyActivities, where: Queues, models: Path
) -> AsyncIterator[None]:
    async with (
        Worker(
            client,
            task_queue=where.task_queue,
            workflows=[ScheduleFireWorkflow, CohortWorkflow],
            activities=cohort_activities(engine, models),
        ),
        Worker(client, task_queue=where.send_task_queue, activities=journey.send_activities),
    ):
        yield


async def test_a_fire_texts_the_audience_once_however_often_its_time_is_fired(
    engine: AsyncEngine,
    temporal_dev_env: WorkflowEnvironment,
    activities: JourneyActivities,  # noqa: F811
    standin: TwilioStandIn,  # noqa: F811
    templates_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    (templates_dir / "sms" / "en" / "winter.j2").write_text("Winter is coming. Reply STOP to opt out.")
    heating = ["electric", "gas", "electric", "heat_pump", "electric"]
    for i, fuel in enumerate(heating):
        await add_customer(
            engine,
            f"w-{i}",
            phone=f"+1503555020{i}",
            attributes={"heating": fuel},
            consent=[("sms", "marketing", True)],
        )
    electric = {f"+1503555020{i}" for i, fuel in enumerate(heating) if fuel == "electric"}
    client, where = temporal_dev_env.client, queues()
    journey_id = f"winter_{uuid.uuid4().hex[:6]}"
    journey = compiled(journey_yaml(journey_id))
    async with fire_workers(client, engine, activities, where, tmp_path):
        await sync(client, [journey], where, ZONE)
        schedule = client.get_schedule_handle(schedule_id(where.task_queue, journey_id))
        await schedule.trigger()  # fire now, as the Schedule does at its time
        fired = None
        for _ in range(100):
            recent = (await schedule.describe()).info.recent_actions
            if recent:
                fired = recent[0]
                break
            await asyncio.sleep(0.1)
        assert fired is not None and isinstance(fired.action, ScheduleActionExecutionStartWorkflow)
        run_id = await client.get_workflow_handle(fired.action.workflow_id, result_type=str).result()
        assert run_id == fire_run_id(journey_id, fired.scheduled_at)
        state = await client.get_workflow_handle(run_id, result_type=CohortState).result()
        assert (state.status, state.members) == ("completed", len(electric))
        assert sorted(message.to for message in standin.received) == sorted(electric)

        # the same fire time again (a retried fire, a backfill): the run's id is taken, nothing is sent
        again = await client.execute_workflow(
            ScheduleFireWorkflow.run,
            ScheduleFireInput(
                journey=journey,
                send_task_queue=where.send_task_queue,
                scheduled_for=fired.scheduled_at.replace(second=59),
                check_retirement=True,
            ),
            id=f"refire-{uuid.uuid4()}",
            task_queue=where.task_queue,
        )
        assert again == run_id
        await asyncio.sleep(0.5)
        assert len(standin.received) == len(electric)
        await schedule.delete()
