"""Record CohortWorkflow histories for the replay tests.

    .venv/bin/python -m tests.replay.record_cohort_histories

Two runs on the time-skipping server: an outage cohort (notice, a partial restoration, an ETR notice,
the rest restored) and a DR cohort (notice, the wait re-aimed by a modification, a split). The
activities are in-memory stand-ins of the cohort ones, moving members between tracks as the real ones
do in Postgres (replay needs only the history). Saved as tests/replay/histories/cohort/<name>.json,
sealed under the replay key of tests/replay/record_histories.py.

Once CohortWorkflow is released, never re-record after changing it: these histories are what prove a
change replay-safe (guard it with `workflow.patched`). Until then (no run of it exists anywhere) a
change of its activities' contracts is re-recorded here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.dsl.schema import SplitStep
from gridjourney.temporal import test_server_path
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import (
    COUNT_TRACKS,
    MATCH_EVENT,
    MOVE_TRACK,
    PARTITION_BATCH,
    RECORD_RUN,
    RESOLVE_AUDIENCE,
    SEND_COHORT_BATCH,
    AudienceOutcome,
    BatchOutcome,
    CohortSendInput,
    CountTracksInput,
    MatchEventInput,
    MemberBatch,
    MoveTrackInput,
    PartitionInput,
    RecordRunInput,
    ResolveAudienceInput,
    TrackSpan,
)
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL
from gridjourney.workflows.decisions import choose_split
from tests.cohorts.support import (
    BEFORE_START,
    DR_HEAD,
    DR_NOTICE,
    ETR_NOTICE,
    OUTAGE_HEAD,
    OUTAGE_STEPS,
    Handle,
    start_cohort,
    subject_event,
    until_waiting,
)
from tests.replay.record_histories import HISTORIES_ROOT, REPLAY_CONVERTER
from tests.workflows.standins import compiled

COHORT_DIR = HISTORIES_ROOT / "cohort"
TASK_QUEUE = "cohort-recordings"
MEMBERS = 40

OUTAGE = OUTAGE_HEAD + ETR_NOTICE + "steps:\n" + OUTAGE_STEPS

DR = (
    DR_HEAD
    + """  audience: {program: event.program}
  updates: [dr.event_modified]
exit_on: [dr.event_cancelled]
steps:
"""
    + DR_NOTICE
    + BEFORE_START
    + """  - id: arms
    split:
      - {weight: 1, goto: reminder}
      - {weight: 1, goto: end}
  - id: reminder
    send: {channels: [sms], template: dr_reminder}
"""
)


@dataclass
class Members:
    """cohort_members in memory: customer → (member_no, step, track); premise p-{n}."""

    journey_id: str = ""
    rows: dict[str, tuple[int, str | None, str | None]] = field(default_factory=dict)

    def in_batch(self, batch: MemberBatch) -> list[str]:
        return [
            customer
            for customer, (no, step, track) in self.rows.items()
            if track == batch.track and step is not None and batch.lo <= no < batch.hi
        ]

    def move(self, customers: list[str], step: str | None, track: str | None) -> int:
        for customer in customers:
            self.rows[customer] = (self.rows[customer][0], step, track if step else None)
        return len(customers)

    def span(self, customers: list[str]) -> TrackSpan:
        numbers = [self.rows[customer][0] for customer in customers]
        return (
            TrackSpan(members=len(numbers), lo=min(numbers), hi=max(numbers) + 1) if numbers else TrackSpan()
        )

    @activity.defn(name=RESOLVE_AUDIENCE)
    async def resolve(self, request: ResolveAudienceInput) -> AudienceOutcome:
        self.journey_id = request.journey_id
        self.rows = {f"c-{n}": (n, request.first_step, request.track) for n in range(MEMBERS)}
        return AudienceOutcome(members=MEMBERS, holdout=0)

    @activity.defn(name=SEND_COHORT_BATCH)
    async def send(self, request: CohortSendInput) -> BatchOutcome:
        customers = self.in_batch(request.batch)
        if not request.stay:
            self.move(customers, request.next_step, request.next_track)
        moved = {request.next_track: len(customers)} if request.next_track and not request.stay else {}
        return BatchOutcome(processed=len(customers), counts={"sent": len(customers)}, moved=moved)

    @activity.defn(name=PARTITION_BATCH)
    async def partition(self, request: PartitionInput) -> BatchOutcome:
        assert isinstance(request.step, SplitStep)  # the recordings split only
        customers = self.in_batch(request.batch)
        for customer in customers:
            goto = choose_split(request.step, self.journey_id, customer).goto
            track = request.tracks.get(goto)
            self.move([customer], goto if track else None, track)
        return BatchOutcome(processed=len(customers))

    @activity.defn(name=MATCH_EVENT)
    async def match(self, request: MatchEventInput) -> TrackSpan:
        named = set(request.premise_ids)
        chosen = [
            customer
            for customer, (no, step, track) in self.rows.items()
            if track == request.track and step is not None and (not named or f"p-{no}" in named)
        ]
        self.move(chosen, request.next_step, request.next_track)
        return self.span(chosen)

    @activity.defn(name=MOVE_TRACK)
    async def move_track(self, request: MoveTrackInput) -> int:
        chosen = [c for c, (_, step, track) in self.rows.items() if track == request.track and step]
        return self.move(chosen, request.next_step, request.next_track)

    @activity.defn(name=COUNT_TRACKS)
    async def count(self, request: CountTracksInput) -> dict[str, TrackSpan]:
        return {
            t: self.span([c for c, (_, s, track) in self.rows.items() if track == t and s])
            for t in request.tracks
        }

    @activity.defn(name=RECORD_RUN)
    async def record(self, request: RecordRunInput) -> None:
        return None


async def _waiting(handle: Handle, step: str, members: int) -> None:
    await until_waiting(handle, {step: members}, interval=0.05)


async def _start(env: WorkflowEnvironment, yaml: str, key: str, **payload: object) -> Handle:
    trigger = subject_event(compiled(yaml).definition.trigger[0].event, **payload)
    return await start_cohort(
        env.client, yaml, key, trigger, task_queue=TASK_QUEUE, send_task_queue=TASK_QUEUE, batch_size=10
    )


async def outage(env: WorkflowEnvironment) -> Handle:
    now = await env.get_current_time()
    handle = await _start(env, OUTAGE, "inc-1", incident_id="inc-1", feeder_ids=["f-1"], etr=now.isoformat())
    await _waiting(handle, "await_restore", MEMBERS)
    restored = subject_event("outage.restored", incident_id="inc-1", premise_ids=["p-1", "p-2", "p-3"])
    await handle.signal(JOURNEY_EVENT_SIGNAL, restored)
    await _waiting(handle, "await_restore", MEMBERS - 3)
    etr = subject_event("outage.etr_updated", incident_id="inc-1", etr=(now + timedelta(hours=3)).isoformat())
    await handle.signal(JOURNEY_EVENT_SIGNAL, etr)
    await handle.signal(JOURNEY_EVENT_SIGNAL, subject_event("outage.restored", incident_id="inc-1"))
    return handle


async def dr(env: WorkflowEnvironment) -> Handle:
    now = await env.get_current_time()
    start = now + timedelta(days=1)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    handle = await _start(env, DR, "dr-1", dr_event_id="dr-1", program="ptr", **window)
    await _waiting(handle, "before_start", MEMBERS)
    later = {
        "start": (start + timedelta(hours=4)).isoformat(),
        "end": (start + timedelta(hours=6)).isoformat(),
    }
    modified = subject_event("dr.event_modified", dr_event_id="dr-1", modification_number=1, **later)
    await handle.signal(JOURNEY_EVENT_SIGNAL, modified)
    return handle


RECORDINGS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Handle]]] = {"outage": outage, "dr": dr}


async def main() -> None:
    COHORT_DIR.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=REPLAY_CONVERTER, test_server_existing_path=str(test_server_path())
    )
    try:
        for name, scenario in RECORDINGS.items():
            members = Members()
            activities: list[Callable[..., Any]] = [
                members.resolve,
                members.send,
                members.partition,
                members.match,
                members.move_track,
                members.count,
                members.record,
            ]
            async with Worker(
                env.client, task_queue=TASK_QUEUE, workflows=[CohortWorkflow], activities=activities
            ):
                handle = await scenario(env)
                final = await handle.result()
                history = await handle.fetch_history()
            path: Path = COHORT_DIR / f"{name}.json"
            document = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
            text = json.dumps(document, indent=1, sort_keys=True) + "\n"
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
            print(f"{path}: {final.status}, {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
