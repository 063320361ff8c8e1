"""What the cohort tests share: customers on a grid (through events and the projections), a cohort
worker with the real cohort activities (worker.cohort_activities: the engine's and helper F's
DR_PERFORMANCE_BATCH), and a recording SEND_COHORT_BATCH.

The recording send activity stands in for helper C's activities/send_batch.py in the workflow tests:
those test the engine (tracks, batches, timers, signals) and must see every send the workflow asks
for, at the server's (skipped) time, without providers and quiet-hour policies deciding for them. It
uses the same member-moving code C's activity uses (cohorts/queries.py), so what it does to the
members is what production does; C's own tests cover the per-member sending.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from gridjourney.cohorts import queries
from gridjourney.dsl.schema import AudienceSpec
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.worker import cohort_activities
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import (
    COHORT_STATE_QUERY,
    SEND_COHORT_BATCH,
    BatchOutcome,
    CohortInput,
    CohortSendInput,
    CohortState,
    ResolveAudienceInput,
)
from gridjourney.workflows.contracts import EventRef
from tests.workflows.standins import compiled

TASK_QUEUE = "cohorts-test"
SEND_TASK_QUEUE = "cohort-sends-test"


# The pieces the cohort journeys of the tests share, joined into each test's YAML text.
def outage_head(journey_id: str) -> str:
    """An outage journey's head: a safety run per incident over the grid it names."""
    return f"""
id: {journey_id}
mode: cohort
purpose: safety
trigger: {{event: outage.detected}}
cohort:
  key: event.incident_id
  audience: {{grid: true}}
"""


def dr_head(journey_id: str) -> str:
    """A DR journey's head: an informational run per DR event (its audience follows)."""
    return f"""
id: {journey_id}
mode: cohort
purpose: informational
trigger: {{event: dr.event_scheduled}}
cohort:
  key: event.dr_event_id
"""


OUTAGE_HEAD = outage_head("outage_cohort")
ETR_NOTICE = """  on_update:
    - event: outage.etr_updated
      send: {channels: [sms], template: outage_etr}
      at_steps: [await_restore]
      moved_by: {field: etr, more_than: 30m}
"""
AT_MOST_HOURLY = "      at_most_every: 1h\n"
OUTAGE_STEPS = """  - id: detected
    send: {channels: [sms], template: outage_detected}
  - id: await_restore
    wait_for: {event: outage.restored, timeout: 2d, on_timeout: end}
  - id: restored
    send: {channels: [sms], template: outage_restored}
"""
HOLD_STEP = """  - id: hold
    wait_for: {event: outage.restored, timeout: 5m, on_event: end, on_timeout: detected}
"""
"""Notices held 5 minutes: power back within them drops the notice."""
PAST_THE_HOLD = timedelta(minutes=6)
DR_HEAD = dr_head("peak_rewards")
PROGRAM_AUDIENCE = """  audience: {program: event.program}
  updates: [dr.event_modified]
"""
DR_NOTICE = """  - id: notice
    send: {channels: [sms], template: dr_notice}
"""
BEFORE_START = """  - id: before_start
    wait: {until: event.start, before: 1h}
"""
DR_REMINDER = """  - id: reminder
    send: {channels: [sms], template: dr_reminder}
"""
DR_STEPS = DR_NOTICE + BEFORE_START + DR_REMINDER
"""A notice, a wait until an hour before the event, a reminder."""

Handle = WorkflowHandle[CohortWorkflow, CohortState]


@dataclass(frozen=True)
class GridCustomer:
    customer_id: str
    premise_id: str
    transformer_id: str
    feeder_id: str


async def add_customers(
    engine: AsyncEngine,
    count: int,
    *,
    prefix: str = "c",
    transformers: int = 4,
    program: str | None = None,
    attributes: Callable[[int], dict[str, Any]] | None = None,
) -> list[GridCustomer]:
    """`count` customers, premise p-{i}, spread over `transformers` transformers on feeder f-1 (and
    enrolled in `program`), appended as events and folded by the projections."""
    made = [
        GridCustomer(f"{prefix}-{i:05d}", f"p-{prefix}-{i}", f"t-{i % transformers}", "f-1")
        for i in range(count)
    ]
    now = datetime.now(UTC)
    events = []
    for i, customer in enumerate(made):
        events.append(
            NewEvent(
                event_id=uuid.uuid4(),
                type="customer.created",
                customer_id=customer.customer_id,
                occurred_at=now,
                source="test",
                payload={
                    "name": f"Customer {i}",
                    "phone": f"+1503555{i:04d}",
                    "premise_id": customer.premise_id,
                    "transformer_id": customer.transformer_id,
                    "feeder_id": customer.feeder_id,
                    "attributes": attributes(i) if attributes else {},
                },
            )
        )
        if program is not None:
            events.append(
                NewEvent(
                    event_id=uuid.uuid4(),
                    type="program.enrolled",
                    customer_id=customer.customer_id,
                    occurred_at=now,
                    source="test",
                    payload={"program": program},
                )
            )
    await EventStore(engine).append(events)
    await ProjectionRunner(engine).catch_up()
    return made


def subject_event(event_type: str, **payload: Any) -> EventRef:
    return EventRef(
        event_id=str(uuid.uuid4()),
        type=event_type,
        customer_id=None,
        occurred_at=datetime.now(UTC),
        payload=payload,
        position=1,
    )


def premises_of(customer_ids: Sequence[str]) -> list[str]:
    """The premises add_customers gave these customers (of its default prefix)."""
    return [f"p-c-{int(customer.removeprefix('c-'))}" for customer in customer_ids]


def dr_scheduled(dr_event_id: str, start: datetime, *, program: str = "ptr", **payload: Any) -> EventRef:
    """dr.event_scheduled for `program`'s members, two hours from `start` (`payload`: more fields)."""
    return subject_event(
        "dr.event_scheduled",
        dr_event_id=dr_event_id,
        program=program,
        start=start.isoformat(),
        end=(start + timedelta(hours=2)).isoformat(),
        **payload,
    )


@dataclass
class Sent:
    key: str
    customer_id: str
    step_id: str
    template: str
    at: datetime  # the server's time the batch was scheduled at (skipped time in tests)


@dataclass
class RecordingSends:
    """SEND_COHORT_BATCH that records one send per idempotency key and moves members as C's does."""

    engine: AsyncEngine
    sent: list[Sent] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    duplicates: int = 0
    defer: dict[str, datetime] = field(default_factory=dict)  # customer → deferred until, once
    fail_after: int | None = None  # the first batch sends this many, then fails (a crash mid-way)
    calls: int = 0

    @activity.defn(name=SEND_COHORT_BATCH)
    async def send_cohort_batch(self, request: CohortSendInput) -> BatchOutcome:
        self.calls += 1
        at = activity.info().current_attempt_scheduled_time
        async with self.engine.connect() as conn:
            members = await queries.batch_members(conn, request.batch)
        outcome = BatchOutcome(processed=len(members))
        done: list[str] = []
        told: list[tuple[str, str]] = []  # (customer, ledger key) sent to by this call
        for member in members:
            if self.fail_after is not None and len(done) == self.fail_after:
                self.fail_after = None
                await self._record_sent(request, told)
                await self._move(request, done)  # what was done is recorded before the crash
                raise RuntimeError("worker lost mid-batch")
            until = self.defer.pop(member.customer_id, None)
            if until is not None:
                async with self.engine.begin() as conn:
                    await queries.defer_members(
                        conn,
                        request.batch.run_id,
                        [member.customer_id],
                        until,
                        from_track=request.batch.track,
                    )
                outcome.counts["deferred"] = outcome.counts.get("deferred", 0) + 1
                if outcome.next_deferred_until is None or until < outcome.next_deferred_until:
                    outcome.next_deferred_until = until
                continue
            what = "holdout" if member.holdout else "sent"
            key = request.idempotency_key(member.customer_id)
            if what == "sent" and key in self.keys:
                self.duplicates += 1
            elif what == "sent":
                self.keys.add(key)
                self.sent.append(Sent(key, member.customer_id, request.batch.step_id, request.template, at))
                told.append((member.customer_id, key))
            outcome.counts[what] = outcome.counts.get(what, 0) + 1
            done.append(member.customer_id)
        await self._record_sent(request, told)
        moved = await self._move(request, done)
        if request.next_track is not None and moved and not request.stay:
            outcome.moved[request.next_track] = moved
        return outcome

    async def _record_sent(self, request: CohortSendInput, told: list[tuple[str, str]]) -> None:
        """message.sent of the run, as C's activity appends it: what tells an `on_update` notice who
        heard of the event (workflows/cohort_updates.py)."""
        if not told:
            return
        payload = {"journey_id": request.journey_id, "instance_id": request.batch.run_id}
        payload |= {"step_id": request.batch.step_id, "template": request.template, "channel": "sms"}
        now = datetime.now(UTC)
        await EventStore(self.engine).append(
            [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type="message.sent",
                    customer_id=customer_id,
                    occurred_at=now,
                    source="test",
                    payload={**payload, "idempotency_key": key},
                )
                for customer_id, key in told
            ]
        )

    async def _move(self, request: CohortSendInput, customer_ids: list[str]) -> int:
        if request.stay:
            return 0
        async with self.engine.begin() as conn:
            return await queries.move_members(
                conn,
                request.batch.run_id,
                customer_ids,
                request.next_step,
                request.next_track,
                queries.FINISHED,
                from_track=request.batch.track,
            )

    def to(self, template: str) -> list[str]:
        return sorted(sent.customer_id for sent in self.sent if sent.template == template)

    async def until_sent(self, template: str, count: int, *, tries: int = 300) -> None:
        """Poll (in real time: the server's clock stands still meanwhile) until `count` members were
        sent `template`."""
        for _ in range(tries):
            if len(self.to(template)) >= count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{len(self.to(template))} sent {template}, not {count}")


@asynccontextmanager
async def cohort_workers(
    client: Client,
    engine: AsyncEngine,
    sends: RecordingSends | Sequence[Callable[..., Any]],
    models_dir: Path,
    **send_worker_options: Any,
) -> AsyncIterator[None]:
    """The cohort worker (the real cohort activities) and the send worker, running `sends` (the
    recording stand-in, or the given send activities) with `send_worker_options`."""
    send_activities = [sends.send_cohort_batch] if isinstance(sends, RecordingSends) else list(sends)
    async with (
        Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[CohortWorkflow],
            activities=cohort_activities(engine, models_dir),
        ),
        Worker(client, task_queue=SEND_TASK_QUEUE, activities=send_activities, **send_worker_options),
    ):
        yield


async def start_cohort(
    client: Client,
    yaml: str,
    key: str,
    trigger: EventRef,
    *,
    task_queue: str = TASK_QUEUE,
    send_task_queue: str = SEND_TASK_QUEUE,
    **options: Any,
) -> Handle:
    """Start the cohort run of `yaml`'s journey for `key` (id cohort:<journey>:<key>); `options` are
    CohortInput's (batch_size, concurrency, events_kept), its defaults otherwise."""
    journey = compiled(yaml)
    return await client.start_workflow(
        CohortWorkflow.run,
        CohortInput(
            journey=journey, cohort_key=key, trigger=trigger, send_task_queue=send_task_queue, **options
        ),
        id=f"cohort:{journey.journey_id}:{key}",
        task_queue=task_queue,
    )


async def until_waiting(
    handle: Handle,
    waiting: dict[str, int],
    *,
    exactly: bool = True,
    running: bool = False,
    interval: float = 0.1,
) -> CohortState:
    """Poll (in real time: the server's clock stands still meanwhile) until members wait as given:
    exactly (no one elsewhere) or, if not `exactly`, at the steps given whoever waits elsewhere; and, if
    `running`, while the run still runs."""
    state: CohortState = CohortState()
    for _ in range(300):
        try:
            state = await handle.query(COHORT_STATE_QUERY, result_type=CohortState)
        except RPCError:  # a run just continued as new answers once its first task has run
            await asyncio.sleep(interval)
            continue
        per_step = state.per_step()
        found = per_step == waiting if exactly else all(per_step.get(s, 0) == n for s, n in waiting.items())
        if found and (not running or state.status == "running"):
            return state
        await asyncio.sleep(interval)
    raise AssertionError(f"members wait at {state.per_step()}, not {waiting}")


def grid_audience(run_id: str, subject: dict[str, Any]) -> ResolveAudienceInput:
    """Resolving the places `subject` names (`audience: {grid: true}`) into run `run_id`, track t1."""
    return ResolveAudienceInput(
        run_id=run_id,
        journey_id="j",
        version=1,
        cohort_key="k",
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec(grid=True),
        subject=subject,
        first_step="first",
        track="t1",
    )
