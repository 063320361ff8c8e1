"""CohortWorkflow's state and its calls (workflows/cohort.py): the tracks' bookkeeping, batch
activities over a track's member_no span, and the run's record. Deterministic, no I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.schema import CohortSpec, SendSpec, WaitForStep
    from gridjourney.workflows.cohort_contracts import (
        MOVE_TRACK,
        RECORD_RUN,
        SEND_COHORT_BATCH,
        BatchOutcome,
        CohortCarry,
        CohortInput,
        CohortSendInput,
        CohortState,
        MemberBatch,
        MoveTrackInput,
        ParkedTrack,
        RecordRunInput,
    )
    from gridjourney.workflows.cohort_decisions import batch_subject, batches
    from gridjourney.workflows.contracts import EventRef

RunStatus = Literal["running", "completed", "exited", "failed"]
BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))  # until the database is back
_BATCH_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# Batch activities heartbeat their progress: a dead worker is noticed within this, and the retry
# finds only the members not yet moved.
_BATCH_HEARTBEAT = timedelta(minutes=1)
_BATCH_TIMEOUT = timedelta(minutes=30)
# An exit cancels the tracks: the run waits until each batch has stopped (it sees the cancellation at
# its next heartbeat) before it releases the members, so no batch sends after the run has exited.
BATCH_CANCELLATION = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
PAST_DEFERRAL = timedelta(minutes=1)  # a deferral already past is asked again this much later


class CohortBase:
    """The run's state and the calls every part of the run makes."""

    def __init__(self, input: CohortInput) -> None:
        self._input = input
        self._journey = input.journey
        assert input.journey.definition.cohort is not None  # the router starts cohort journeys only
        self._cohort: CohortSpec = input.journey.definition.cohort
        self._subject: dict[str, Any] = input.trigger.namespace()
        self._subject_version = 0
        self._subject_recorded = 0
        self._state = CohortState()
        self._seen: set[str] = {input.trigger.event_id}
        # Events of wait_for types in arrival order: the last `events_kept` of them. A wait_for reads
        # them by absolute number (0 = the first ever); `_events[0]` is number `_events_dropped`.
        self._events: list[EventRef] = []
        self._events_dropped = 0
        self._notices: list[EventRef] = []
        self._exit_reason: str | None = None
        self._tracks_made = 0
        self._track_steps: dict[str, str] = {}  # track → the step it was made for
        self._exit_event: EventRef | None = None  # the exit event, when an on_update notice tells of it
        self._spans: dict[str, tuple[int, int]] = {}
        self._live = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(input.concurrency)
        self._notices_sent: dict[str, int] = {}
        self._notice_at: dict[int, datetime] = {}
        self._notice_value: dict[int, Any] = {}
        self._notice_fields: dict[int, dict[str, Any]] = {}  # `changed` fields as last notified
        self._first_shown: dict[str, Any] | None = None  # the subject as the run's first send showed it
        self._parked: dict[str, ParkedTrack] = {}  # tracks waiting at a wait or wait_for step
        self._notifying = False  # an on_update notice is being sent
        definition = input.journey.definition
        self._wait_for_types = {s.wait_for.event for s in definition.steps if isinstance(s, WaitForStep)}
        self._trigger_types = {trigger.event for trigger in definition.trigger}
        # Triggering events that reached the run (their members join), each with the number of the
        # first wait_for event after it: the newcomers' wait_for steps count only events from there.
        self._joins: list[tuple[EventRef, int]] = []
        self._since: dict[str, int] = {}  # track → that number, for the tracks of joined members
        if input.carried is not None:  # a continued run goes on from its predecessor's state
            self._restore(input.carried)

    # --- continue-as-new --------------------------------------------------------------------------
    def _carry(self) -> CohortCarry:
        return CohortCarry(
            subject=self._subject,
            subject_version=self._subject_version,
            seen=sorted(self._seen),
            events=self._events,
            events_dropped=self._events_dropped,
            state=self._state,
            tracks_made=self._tracks_made,
            track_steps=self._track_steps,
            spans=self._spans,
            since=self._since,
            parked=self._parked,
            notices_sent=self._notices_sent,
            notice_at=self._notice_at,
            notice_value=self._notice_value,
            notice_fields=self._notice_fields,
            first_shown=self._first_shown,
        ).model_copy(deep=True)

    def _restore(self, carry: CohortCarry) -> None:
        self._subject = carry.subject
        self._subject_version = self._subject_recorded = carry.subject_version
        self._seen = set(carry.seen)
        self._events, self._events_dropped = carry.events, carry.events_dropped
        self._state = carry.state
        self._tracks_made, self._track_steps = carry.tracks_made, carry.track_steps
        self._spans, self._since = carry.spans, carry.since
        self._notices_sent, self._notice_at = carry.notices_sent, carry.notice_at
        self._notice_value, self._notice_fields = carry.notice_value, carry.notice_fields
        self._first_shown = carry.first_shown

    def _new_track(self, step_id: str | None) -> str:
        """A new track's name; it will wait at `step_id` (kept for an exit's notice, which also finds
        members a stopped batch moved to a track it did not start)."""
        self._tracks_made += 1
        track = f"t{self._tracks_made}"
        if step_id is not None:
            self._track_steps[track] = step_id
        return track

    def _subject_moved(self, seen: int) -> bool:
        return self._subject_version != seen

    def _more_events(self, read: int) -> bool:
        return self._events_dropped + len(self._events) > read

    def _members(self, track: str) -> int:
        state = self._state.tracks.get(track)
        return 0 if state is None else state.members

    def _went_on(self, track: str, moved: int) -> None:
        state = self._state.tracks.get(track)
        if state is not None:
            state.members = max(0, state.members - moved)

    async def _over_batches(
        self, track: str, step_id: str, call: Callable[[MemberBatch], Awaitable[BatchOutcome]]
    ) -> BatchOutcome:
        async def one(batch: MemberBatch) -> BatchOutcome:
            async with self._slots:
                return await call(batch)

        parts = batches(self._run_id, step_id, track, self._spans[track], self._input.batch_size)
        results = await asyncio.gather(*(one(batch) for batch in parts))
        total = BatchOutcome()
        for result in results:
            total.processed += result.processed
            for key, value in result.counts.items():
                total.counts[key] = total.counts.get(key, 0) + value
            for key, value in result.moved.items():
                total.moved[key] = total.moved.get(key, 0) + value
            if result.next_deferred_until is not None and (
                total.next_deferred_until is None or result.next_deferred_until < total.next_deferred_until
            ):
                total.next_deferred_until = result.next_deferred_until
        for key, value in total.counts.items():
            self._state.counts[key] = self._state.counts.get(key, 0) + value
        return total

    def _send_input(
        self,
        batch: MemberBatch,
        send: SendSpec,
        visit: int,
        next_step: str | None,
        next_track: str | None,
        *,
        stay: bool = False,
    ) -> CohortSendInput:
        return CohortSendInput(
            batch=batch,
            journey_id=self._journey.journey_id,
            version=self._journey.version,
            purpose=self._journey.definition.purpose,
            channels=send.channels,
            template=send.template,
            sending_hours=send.sending_hours_text(),
            subject=batch_subject(self._subject),
            visit=visit,
            next_step=next_step,
            next_track=next_track,
            can_defer=not stay,
            stay=stay,
        )

    async def _send_batch(self, request: CohortSendInput) -> BatchOutcome:
        outcome: BatchOutcome = await workflow.execute_activity(
            SEND_COHORT_BATCH,
            request,
            task_queue=self._input.send_task_queue,
            result_type=BatchOutcome,
            start_to_close_timeout=_BATCH_TIMEOUT,
            heartbeat_timeout=_BATCH_HEARTBEAT,
            retry_policy=_BATCH_RETRY,
            cancellation_type=BATCH_CANCELLATION,
        )
        return outcome

    async def _move_track(self, track: str, step_id: str | None, next_track: str | None = None) -> int:
        moved: int = await self._bookkeeping(
            MOVE_TRACK,
            MoveTrackInput(run_id=self._run_id, track=track, next_step=step_id, next_track=next_track),
            result_type=int,
        )
        self._went_on(track, moved)
        return moved

    # --- activities -------------------------------------------------------------------------------
    @property
    def _run_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def _journey_namespace(self) -> dict[str, Any]:
        return {"id": self._journey.journey_id, "version": self._journey.version}

    async def _batch_activity(self, activity: str, request: Any) -> BatchOutcome:
        outcome: BatchOutcome = await workflow.execute_activity(
            activity,
            request,
            result_type=BatchOutcome,
            start_to_close_timeout=_BATCH_TIMEOUT,
            heartbeat_timeout=_BATCH_HEARTBEAT,
            retry_policy=_BATCH_RETRY,
            cancellation_type=BATCH_CANCELLATION,
        )
        return outcome

    async def _record(self, status: RunStatus, exit_reason: str | None = None) -> None:
        await self._bookkeeping(
            RECORD_RUN,
            RecordRunInput(
                run_id=self._run_id, status=status, exit_reason=exit_reason, subject=self._subject
            ),
        )

    async def _bookkeeping(
        self,
        activity: str,
        arg: Any,
        result_type: type | None = None,
        timeout: timedelta = timedelta(minutes=2),
    ) -> Any:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            retry_policy=BOOKKEEPING_RETRY,
        )
