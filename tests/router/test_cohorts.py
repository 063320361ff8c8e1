"""The router and cohort journeys, against real Postgres and the Temporal dev server: an event without
a customer starts one run per journey and key, the same DR event or the same incident twice starts one,
two reports of one transformer are one run, and later events of the key (a second trigger too) are
signalled to it. No worker
runs: what is tested is what the router asks Temporal for."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.cohorts import MAX_KEY_LENGTH, bounded_key
from gridjourney.router.matching import listened_event_types, triggered_journeys
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import EventRef
from tests.cohorts.support import DR_NOTICE, PROGRAM_AUDIENCE, dr_head, outage_head
from tests.events.builders import new_event
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, compiled

DR = dr_head("ptr_event") + PROGRAM_AUDIENCE + "exit_on: [dr.event_cancelled]\nsteps:\n" + DR_NOTICE

OUTAGE = (
    outage_head("outage_run")
    + """steps:
  - id: detected
    send: {channels: [sms], template: outage_detected}
  - id: await_restore
    wait_for: {event: outage.restored, timeout: 2d}
"""
)


def _dr(kind: str, dr_event_id: str, **payload: object) -> NewEvent:
    window = {"start": "2099-07-01T18:00:00+00:00", "end": "2099-07-01T20:00:00+00:00"}
    fields = {"dr_event_id": dr_event_id, **(window if kind != "dr.event_cancelled" else {}), **payload}
    return new_event(kind, None, fields)


async def _route_all(engine: AsyncEngine, router: EventRouter) -> None:
    await ProjectionRunner(engine).catch_up()
    await router.handle(await EventStore(engine).read_after(0))


async def test_the_same_dr_event_twice_starts_one_run_and_updates_are_signalled(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    dr_id = f"dr-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, DR, "ptr_event.yaml", None)
    store = EventStore(engine)
    await store.append([_dr("dr.event_scheduled", dr_id, program="ptr")])
    await store.append([_dr("dr.event_scheduled", dr_id, program="ptr")])  # delivered again, new id
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    await _route_all(engine, router)
    await _route_all(engine, router)  # the whole log redelivered
    assert router.started == 1
    # the triggers that found the run running were signalled to it (it ignores the ones it has seen):
    # the second delivery in the first pass, both in the second
    assert router.signalled == 3
    handle = client.get_workflow_handle(f"cohort:ptr_event:{dr_id}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await store.append([_dr("dr.event_modified", dr_id, modification_number=1)])
    await store.append([_dr("dr.event_cancelled", f"{dr_id}-other")])  # another event's: no run
    signalled = router.signalled
    await ProjectionRunner(engine).catch_up()
    await router.handle((await store.read_after(0))[-2:])
    assert router.signalled == signalled + 1
    history = await handle.fetch_history()
    signals = [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
    assert len(signals) == 4
    await handle.terminate("test over")


async def test_two_reports_of_one_transformer_are_one_outage_run(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    first, second = f"inc-{uuid.uuid4().hex[:8]}", f"inc-{uuid.uuid4().hex[:8]}"
    transformer = f"t-{uuid.uuid4().hex[:6]}"
    await registry.publish(engine, OUTAGE, "outage_run.yaml", None)
    store = EventStore(engine)
    await store.append(
        [
            new_event("outage.detected", None, {"incident_id": first, "transformer_ids": [transformer]}),
            new_event("outage.detected", None, {"incident_id": first, "transformer_ids": [transformer]}),
            new_event("outage.detected", None, {"incident_id": second, "transformer_ids": [transformer]}),
        ]
    )
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    await _route_all(engine, router)
    assert router.started == 1
    # the second and third reports reached the run as signals: the customers they name may join it
    assert router.signalled == 2
    handle = client.get_workflow_handle(f"cohort:outage_run:{first}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    # power back for the second report's incident: the one run hears of it
    await store.append(
        [new_event("outage.restored", None, {"incident_id": second, "restored_at": "2026-01-01T00:00:00Z"})]
    )
    await ProjectionRunner(engine).catch_up()
    await router.handle((await store.read_after(0))[-1:])
    assert router.signalled == 3
    await handle.terminate("test over")


def test_cohort_journeys_are_not_entered_per_customer() -> None:
    journey = compiled(OUTAGE)
    reported = EventRef(
        event_id=str(uuid.uuid4()),
        type="outage.detected",
        customer_id="c-1",
        occurred_at=new_event("x", None).occurred_at,
        payload={"incident_id": "i"},
        position=1,
    )
    assert triggered_journeys(reported, [journey], {}) == []
    assert listened_event_types(journey) == set()


def test_a_long_key_is_replaced_by_a_stable_digest_that_fits_the_columns() -> None:
    assert bounded_key("dr-1") == "dr-1"
    assert bounded_key("x" * MAX_KEY_LENGTH) == "x" * MAX_KEY_LENGTH
    long = "x" * 201
    digest = bounded_key(long)
    assert digest == bounded_key(long) != bounded_key(long + "y")
    assert digest.startswith("sha256:") and len(digest) <= MAX_KEY_LENGTH


async def test_a_run_whose_key_is_too_long_starts_under_its_digest(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    journey = (
        DR.replace("key: event.dr_event_id", "key: event.program + ':' + event.dr_event_id")
        .replace("  updates: [dr.event_modified]\n", "")
        .replace("exit_on: [dr.event_cancelled]\n", "")
    )
    await registry.publish(engine, journey, "ptr_event.yaml", None)
    program, dr_id = "p" * 100, f"dr-{uuid.uuid4().hex}" + "d" * 60
    await EventStore(engine).append([_dr("dr.event_scheduled", dr_id, program=program)])
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    await _route_all(engine, router)
    assert router.started == 1
    handle = client.get_workflow_handle(f"cohort:ptr_event:{bounded_key(f'{program}:{dr_id}')}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate("test over")
