"""The Temporal Schedules of the journeys that have a `schedule` trigger, kept in step with them.

One Schedule per such journey (the latest published version), id `journey-schedule:{task queue}:
{journey id}`: the task queue keeps deployments (and tests) that share a Temporal namespace apart.
It starts ScheduleFireWorkflow (schedules/workflow.py) at each fire time (which starts nothing if
the journey has been retired meanwhile: schedules/activities.py), in the schedule's zone
(the utility's, the policy's `default_time_zone`, unless the journey names one), so Temporal keeps
the clock: durable, daylight-saving aware, and a fire missed while the cluster was down is still
run within CATCH_UP_WINDOW (later, the campaign's moment has passed: it is skipped). `sync` creates
the missing ones, updates those whose journey, zone or queues changed (the state an operator set,
such as paused, is kept), and deletes those of journeys that no longer have a schedule trigger. The
worker side runs it at start (gridjourney/stack.py); `gridjourney journeys schedules --sync` on
demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.dsl.schedule import schedule_zone
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.schedules.workflow import ScheduleFireInput, ScheduleFireWorkflow

ID_PREFIX = "journey-schedule"
# A fire Temporal could not start on time (cluster down) still starts within this; a campaign's
# messages a day late are still worth sending, a week late they are not.
CATCH_UP_WINDOW = timedelta(days=1)
Change = Literal["created", "updated", "unchanged", "deleted"]
# What the fires' input asks beyond the journey and queues; a new value rewrites every schedule.
FIRE_INPUT_VERSION = "checks-retirement"


@dataclass(frozen=True)
class Queues:
    """Where fires run: the journeys' task queue and the cohort sends' (settings)."""

    task_queue: str
    send_task_queue: str
    batch_size: int = 500
    concurrency: int = 8


@dataclass(frozen=True)
class ScheduleChange:
    schedule_id: str
    journey_id: str
    change: Change
    cron: str | None = None
    zone: str | None = None


def schedule_id(task_queue: str, journey_id: str) -> str:
    return f"{ID_PREFIX}:{task_queue}:{journey_id}"


def scheduled_journeys(journeys: Iterable[CompiledJourney]) -> list[CompiledJourney]:
    return [journey for journey in journeys if journey.definition.schedule is not None]


def journey_schedule(journey: CompiledJourney, queues: Queues, default_zone: str) -> Schedule:
    """The Temporal Schedule of a journey with a schedule trigger; its note names the journey's
    version, the cron and the zone, and a fingerprint of everything the schedule runs with."""
    trigger = journey.definition.schedule
    assert trigger is not None and trigger.schedule is not None
    cron, zone = trigger.schedule.cron_expression(), schedule_zone(trigger.schedule, default_zone)
    fire = ScheduleFireInput(
        journey=journey,
        send_task_queue=queues.send_task_queue,
        batch_size=queues.batch_size,
        concurrency=queues.concurrency,
        check_retirement=True,
    )
    # FIRE_INPUT_VERSION in it: a schedule written before fires checked retirement is updated.
    fingerprint = hashlib.sha256(
        f"{journey.content_hash}|{zone}|{queues}|{FIRE_INPUT_VERSION}".encode()
    ).hexdigest()[:12]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduleFireWorkflow.run,
            fire,
            id=f"schedule-fire:{journey.journey_id}",  # Temporal appends the fire time
            task_queue=queues.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=CATCH_UP_WINDOW),
        state=ScheduleState(
            note=f"gridjourney journey {journey.journey_id} v{journey.version}: {cron!r} in {zone} "
            f"({fingerprint})"
        ),
    )


async def sync(
    client: Client, journeys: Iterable[CompiledJourney], queues: Queues, default_zone: str
) -> list[ScheduleChange]:
    """Bring the schedules of `queues.task_queue` in step with `journeys` (the latest versions)."""
    changes: list[ScheduleChange] = []
    wanted: set[str] = set()
    for journey in scheduled_journeys(journeys):
        sid = schedule_id(queues.task_queue, journey.journey_id)
        wanted.add(sid)
        schedule = journey_schedule(journey, queues, default_zone)
        changes.append(await _put(client, sid, journey.journey_id, schedule))
    for sid in await existing_ids(client, queues.task_queue):
        if sid not in wanted:
            await client.get_schedule_handle(sid).delete()
            changes.append(ScheduleChange(sid, sid.rsplit(":", 1)[-1], "deleted"))
    return changes


async def sync_one(
    client: Client, journey: CompiledJourney, queues: Queues, default_zone: str
) -> ScheduleChange | None:
    """After a publish: the schedule of one journey in step with `journey` (its latest version):
    created or updated when it has a schedule trigger, deleted when it no longer has (None: there was
    none to delete)."""
    sid = schedule_id(queues.task_queue, journey.journey_id)
    if journey.definition.schedule is not None:
        return await _put(client, sid, journey.journey_id, journey_schedule(journey, queues, default_zone))
    return await delete_schedule(client, queues.task_queue, journey.journey_id)


async def delete_schedule(client: Client, task_queue: str, journey_id: str) -> ScheduleChange | None:
    """Delete the journey's Temporal Schedule, if it has one (None: it had none)."""
    sid = schedule_id(task_queue, journey_id)
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return ScheduleChange(sid, journey_id, "deleted")


async def _put(client: Client, sid: str, journey_id: str, schedule: Schedule) -> ScheduleChange:
    assert isinstance(schedule.spec, ScheduleSpec)
    cron, zone = schedule.spec.cron_expressions[0], schedule.spec.time_zone_name
    try:
        await client.create_schedule(sid, schedule)
        return ScheduleChange(sid, journey_id, "created", cron, zone)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(sid)
    current = await handle.describe()
    if current.schedule.state.note == schedule.state.note:
        return ScheduleChange(sid, journey_id, "unchanged", cron, zone)

    def updated(found: ScheduleUpdateInput) -> ScheduleUpdate:
        # keep what an operator set (paused, with its reason), with this sync's note
        state = found.description.schedule.state
        schedule.state = ScheduleState(note=schedule.state.note, paused=state.paused)
        return ScheduleUpdate(schedule=schedule)

    await handle.update(updated)
    return ScheduleChange(sid, journey_id, "updated", cron, zone)


async def existing_ids(client: Client, task_queue: str) -> list[str]:
    """The ids of this task queue's journey schedules Temporal lists (its list lags a new one briefly)."""
    prefix = f"{ID_PREFIX}:{task_queue}:"
    return sorted(
        [listed.id async for listed in await client.list_schedules() if listed.id.startswith(prefix)]
    )


async def next_fires(client: Client, task_queue: str, journey_id: str) -> list[datetime]:
    """When Temporal will next start the journey's fires (none: no schedule, or it never fires more)."""
    description = await client.get_schedule_handle(schedule_id(task_queue, journey_id)).describe()
    return list(description.info.next_action_times)
