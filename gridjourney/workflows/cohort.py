"""CohortWorkflow: one utility-scale event (a DR event, an outage incident) for its whole audience.

Its id is `cohort:{journey id}:{key}` (router/cohorts.py). Members are rows of `cohort_members`,
never history (workflows/cohort_contracts.py). How a run goes:
- RESOLVE_AUDIENCE puts every member in track `t1` at the first step; each track then runs as its
  own coroutine. A step over a track runs as batch activities over member_no ranges of
  `batch_size`, at most `concurrency` at once for the whole run. Members a step is done with form a
  new track at the next step (a branch or split: one per target), which starts at once.
- send: SEND_COHORT_BATCH on the send task queue. Members deferred by quiet hours stay; the track
  sleeps until the earliest deferral and runs the step again for them (the others have gone on).
- wait: one durable timer per track. An `updates` event (dr.event_modified) changes the subject;
  the wait wakes and aims again (`until: event.start` moves with the event).
- wait_for: each signalled event of the type (kept from the start of the run, so a restoration that
  came while the notice was being sent counts) moves the members it names to on_event; at the
  timeout the rest go to on_timeout.
- dr_performance: DR_PERFORMANCE_BATCH until every member has figures or the wait for reads is
  over (then once more with give_up), looking again after READS_POLL, doubling up to READS_POLL_MAX.
- exit_on: the tracks are cancelled (the run waits until each running batch has stopped), every
  member leaves with the event type as reason, the run ends `exited`. `on_update` notices:
  SEND_COHORT_BATCH with `stay` to the members waiting at `at_steps`, keyed by step id
  `{event type}#{n}`; incidents/etr.py decides when a moved time is news.
- a triggering event signalled to the running run (router/cohorts.py: a second outage report merged
  into the incident): ADD_MEMBERS puts the customers it names who are not members yet in a new track
  at the first step; their wait_for steps count only the events from their joining on.
- bad input (RESOLVE_AUDIENCE fails non-retryably: an audience expression, the target, the event's
  window): the run ends `failed` with the reason.
A new track batches over its own members' member_no range (COUNT_TRACKS / MATCH_EVENT give it), and
batch inputs carry the subject without its grid lists (cohort_decisions.batch_subject).
History holds batch activities and signals only; a run lives for hours to days, so it does not
continue as new (a storm of signals would be the reason to add it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.expressions import ExpressionError
    from gridjourney.dsl.schema import (
        AnyStep,
        BranchStep,
        CohortSpec,
        DrPerformanceStep,
        ScoreStep,
        SendSpec,
        SendStep,
        SplitStep,
        UpdateStep,
        WaitForStep,
        WaitStep,
    )
    from gridjourney.workflows.cohort_contracts import (
        ADD_MEMBERS,
        COHORT_STATE_QUERY,
        COUNT_TRACKS,
        DR_PERFORMANCE_BATCH,
        MATCH_EVENT,
        MOVE_TRACK,
        PARTITION_BATCH,
        RECORD_RUN,
        RESOLVE_AUDIENCE,
        SCORE_BATCH,
        SEND_COHORT_BATCH,
        UPDATE_BATCH,
        AudienceOutcome,
        BatchOutcome,
        CohortInput,
        CohortSendInput,
        CohortState,
        CountTracksInput,
        DrPerformanceInput,
        MatchEventInput,
        MemberBatch,
        MoveTrackInput,
        PartitionInput,
        RecordRunInput,
        ResolveAudienceInput,
        ScoreBatchInput,
        TrackSpan,
        TrackState,
        UpdateBatchInput,
    )
    from gridjourney.workflows.cohort_decisions import (
        batch_subject,
        batches,
        cohort_wait_end,
        fields_changed,
        newer_update,
        update_notice_due,
        updated_subject,
        wait_for_accepts,
    )
    from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef
    from gridjourney.workflows.decisions import target

RunStatus = Literal["running", "completed", "exited", "failed"]
# dr_performance: look for reads again after 1 h, 2 h, 4 h ... at most 12 h apart, so that a wait of
# days for late reads costs a few rounds of batches, not one every hour (history stays small).
READS_POLL = timedelta(hours=1)
READS_POLL_MAX = timedelta(hours=12)
_BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))  # until the database is back
_BATCH_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# Batch activities heartbeat their progress: a dead worker is noticed within this, and the retry
# finds only the members not yet moved.
_BATCH_HEARTBEAT = timedelta(minutes=1)
_BATCH_TIMEOUT = timedelta(minutes=30)
# An exit cancels the tracks: the run waits until each batch has stopped (it sees the cancellation at
# its next heartbeat) before it releases the members, so no batch sends after the run has exited.
_BATCH_CANCELLATION = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
_PAST_DEFERRAL = timedelta(minutes=1)


class _Exit(Exception):
    pass


@workflow.defn(name="CohortWorkflow")
class CohortWorkflow:
    @workflow.init
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
        definition = input.journey.definition
        self._wait_for_types = {s.wait_for.event for s in definition.steps if isinstance(s, WaitForStep)}
        self._trigger_types = {trigger.event for trigger in definition.trigger}
        # Triggering events that reached the run (their members join), each with the number of the
        # first wait_for event after it: the newcomers' wait_for steps count only events from there.
        self._joins: list[tuple[EventRef, int]] = []
        self._since: dict[str, int] = {}  # track → that number, for the tracks of joined members

    # --- handlers ---------------------------------------------------------------------------------
    @workflow.signal(name=JOURNEY_EVENT_SIGNAL)
    def on_event(self, event: EventRef) -> None:
        if event.event_id in self._seen or self._state.status in ("completed", "exited", "failed"):
            return
        self._seen.add(event.event_id)
        if event.type in self._journey.definition.exit_on:
            if self._exit_reason is None and any(n.event == event.type for n in self._cohort.on_update):
                self._exit_event = event
            self._exit_reason = self._exit_reason or event.type
            return
        if event.type in self._trigger_types:
            self._joins.append((event, self._events_dropped + len(self._events)))
        if event.type in self._cohort.updates and newer_update(self._subject, event.payload):
            self._subject = updated_subject(self._subject, event.payload)
            self._subject_version += 1
        if any(notice.event == event.type for notice in self._cohort.on_update):
            self._notices.append(event)
        if event.type in self._wait_for_types:
            self._events.append(event)
            excess = len(self._events) - self._input.events_kept
            if excess > 0:
                del self._events[:excess]
                self._events_dropped += excess

    @workflow.query(name=COHORT_STATE_QUERY)
    def state(self) -> CohortState:
        return self._state

    # --- the run ----------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: CohortInput) -> CohortState:
        first = self._new_track(self._journey.first_step)
        try:
            audience = await self._resolve(input, first)
        except ActivityError as error:
            cause = error.cause
            if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                raise
            # bad input (an audience expression, the target, the event's window): the run fails
            # with the reason instead of retrying for ever
            self._state.status = "failed"
            self._state.exit_reason = cause.message
            await self._record("failed", cause.message)
            return self._state
        self._state.members, self._state.holdout = audience.members, audience.holdout
        self._state.status = "running"
        await self._record("running")
        self._spans[first] = (0, audience.members)
        self._spawn(first, self._journey.first_step, audience.members)
        notices = asyncio.create_task(self._notice_loop())
        joins = asyncio.create_task(self._join_loop())
        await workflow.wait_condition(
            lambda: self._exit_reason is not None or (self._live == 0 and not self._joins)
        )
        notices.cancel()
        joins.cancel()
        if self._exit_reason is not None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, notices, joins, return_exceptions=True)
            if self._exit_event is not None:
                await self._notify_exit(self._exit_event)
            self._state.status = "exited"
            self._state.exit_reason = self._exit_reason
            self._state.tracks.clear()
            await self._record("exited", self._exit_reason)
        else:
            await asyncio.gather(notices, joins, return_exceptions=True)
            self._state.status = "completed"
            await self._record("completed")
        return self._state

    async def _resolve(self, input: CohortInput, first: str) -> AudienceOutcome:
        audience: AudienceOutcome = await self._bookkeeping(
            RESOLVE_AUDIENCE,
            ResolveAudienceInput(
                run_id=self._run_id,
                journey_id=self._journey.journey_id,
                version=self._journey.version,
                cohort_key=input.cohort_key,
                trigger_event_id=input.trigger.event_id,
                audience=self._cohort.audience,
                subject=self._subject,
                first_step=self._journey.first_step,
                track=first,
            ),
            result_type=AudienceOutcome,
            timeout=timedelta(minutes=10),
        )
        return audience

    # --- tracks -----------------------------------------------------------------------------------
    def _new_track(self, step_id: str | None) -> str:
        """A new track's name; it will wait at `step_id` (kept for an exit's notice, which also finds
        members a stopped batch moved to a track it did not start)."""
        self._tracks_made += 1
        track = f"t{self._tracks_made}"
        if step_id is not None:
            self._track_steps[track] = step_id
        return track

    def _spawn(
        self,
        track: str,
        step_id: str | None,
        members: int,
        visits: dict[str, int] | None = None,
        *,
        parent: str | None = None,
    ) -> None:
        """Run `track` from `step_id` (None: its members have finished) in its own coroutine; it came
        from `parent` (joined members' tracks pass on where their wait_for events begin)."""
        if step_id is None or members <= 0:
            return
        if parent is not None and parent in self._since:
            self._since[track] = self._since[parent]
        self._state.tracks[track] = TrackState(step_id=step_id, members=members)
        self._live += 1
        self._tasks.append(asyncio.create_task(self._run_track(track, step_id, dict(visits or {}))))

    async def _run_track(self, track: str, step_id: str, visits: dict[str, int]) -> None:
        try:
            visits[step_id] = visits.get(step_id, 0) + 1
            await self._step(track, self._journey.step(step_id), visits)
        finally:
            self._live -= 1
            self._state.tracks.pop(track, None)

    async def _step(self, track: str, step: AnyStep, visits: dict[str, int]) -> None:
        following = self._journey.successors.get(step.id)
        if isinstance(step, SendStep):
            await self._send(track, step, following, visits)
        elif isinstance(step, WaitStep):
            await self._wait(track, step, following, visits)
        elif isinstance(step, WaitForStep):
            await self._wait_for(track, step, following, visits)
        elif isinstance(step, BranchStep | SplitStep):
            await self._partition(track, step, following, visits)
        elif isinstance(step, UpdateStep | ScoreStep):
            await self._per_member(track, step, following, visits)
        elif isinstance(step, DrPerformanceStep):
            await self._dr_performance(track, step, following, visits)
        else:  # EndStep
            await self._move_track(track, None)

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

    async def _follow(self, steps: dict[str, str | None], visits: dict[str, int], parent: str) -> int:
        """Start the tracks a step moved members to (track → its step), counted in the table; returns
        how many members are left in `parent`."""
        spans: dict[str, TrackSpan] = await self._bookkeeping(
            COUNT_TRACKS,
            CountTracksInput(run_id=self._run_id, tracks=[parent, *steps]),
            result_type=dict[str, TrackSpan],
        )
        for track, step_id in steps.items():
            self._spans[track] = (spans[track].lo, spans[track].hi)
            self._spawn(track, step_id, spans[track].members, visits, parent=parent)
        left = spans[parent]
        if left.members > 0:  # those left (deferred) are asked again over their own range only
            self._spans[parent] = (left.lo, left.hi)
        state = self._state.tracks.get(parent)
        if state is not None:
            state.members = left.members
        return left.members

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

    # --- steps ------------------------------------------------------------------------------------
    async def _send(self, track: str, step: SendStep, following: str | None, visits: dict[str, int]) -> None:
        if self._first_shown is None:
            self._first_shown = dict(self._subject)
        while True:
            next_track = self._new_track(following) if following is not None else None

            def request(batch: MemberBatch, next_track: str | None = next_track) -> CohortSendInput:
                return self._send_input(batch, step.send, visits[step.id], following, next_track)

            outcome = await self._over_batches(track, step.id, lambda batch: self._send_batch(request(batch)))
            left = await self._follow({next_track: following} if next_track else {}, visits, track)
            deferred_until = outcome.next_deferred_until
            if deferred_until is None or left == 0:
                return
            # the deferred members are asked again at the next allowed minute (never in a busy loop)
            await workflow.sleep(max(deferred_until - workflow.now(), _PAST_DEFERRAL))

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
            cancellation_type=_BATCH_CANCELLATION,
        )
        return outcome

    async def _wait(self, track: str, step: WaitStep, following: str | None, visits: dict[str, int]) -> None:
        started = workflow.now()
        while True:
            seen = self._subject_version
            try:
                end = cohort_wait_end(step.wait, started, self._subject, self._journey_namespace)
            except ExpressionError:  # `until` gave no time: go on rather than stall the run
                break
            remaining = end - workflow.now()
            if remaining <= timedelta(0):
                break
            try:
                await workflow.wait_condition(partial(self._subject_moved, seen), timeout=remaining)
            except TimeoutError:
                break
        await self._move_on(track, following, visits)

    async def _wait_for(
        self, track: str, step: WaitForStep, following: str | None, visits: dict[str, int]
    ) -> None:
        spec = step.wait_for
        on_event = following if spec.on_event is None else target(spec.on_event)
        on_timeout = following if spec.on_timeout is None else target(spec.on_timeout)
        deadline = workflow.now() + spec.timeout
        read = self._since.get(track, 0)  # members who joined later: only events since they joined
        while self._members(track) > 0:
            while self._more_events(read) and self._members(track) > 0:
                read = max(read, self._events_dropped)  # events dropped before this track read them
                event = self._events[read - self._events_dropped]
                read += 1
                if event.type != spec.event or not wait_for_accepts(
                    spec.when, event.namespace(), self._subject, self._journey_namespace
                ):
                    continue
                next_track = self._new_track(on_event) if on_event is not None else None
                matched: TrackSpan = await self._bookkeeping(
                    MATCH_EVENT,
                    MatchEventInput(
                        run_id=self._run_id,
                        track=track,
                        premise_ids=_ids(event.payload, "premise_ids"),
                        transformer_ids=_ids(event.payload, "transformer_ids"),
                        feeder_ids=_ids(event.payload, "feeder_ids"),
                        next_step=on_event,
                        next_track=next_track,
                    ),
                    result_type=TrackSpan,
                )
                self._went_on(track, matched.members)
                if next_track is not None:
                    self._spans[next_track] = (matched.lo, matched.hi)
                    self._spawn(next_track, on_event, matched.members, visits, parent=track)
            remaining = deadline - workflow.now()
            if self._members(track) <= 0 or remaining <= timedelta(0):
                break
            try:
                events_read = read
                await workflow.wait_condition(partial(self._more_events, events_read), timeout=remaining)
            except TimeoutError:
                break
        if self._members(track) > 0:
            await self._move_on(track, on_timeout, visits)

    async def _partition(
        self, track: str, step: BranchStep | SplitStep, following: str | None, visits: dict[str, int]
    ) -> None:
        gotos = (
            [case.goto for case in step.branch]
            if isinstance(step, BranchStep)
            else [arm.goto for arm in step.split]
        )
        tracks: dict[str, str] = {}
        for goto in gotos:
            if target(goto) is not None and goto not in tracks:
                tracks[goto] = self._new_track(goto)
        otherwise = (
            self._new_track(following) if isinstance(step, BranchStep) and following is not None else None
        )
        steps: dict[str, str | None] = {name: goto for goto, name in tracks.items()}
        if otherwise is not None:
            steps[otherwise] = following
        request = PartitionInput(
            batch=MemberBatch(run_id=self._run_id, step_id=step.id, track=track, lo=0, hi=0),
            journey_id=self._journey.journey_id,
            step=step,
            subject=batch_subject(self._subject),
            tracks=tracks,
            otherwise_step=following if otherwise is not None else None,
            otherwise_track=otherwise,
        )
        await self._over_batches(
            track,
            step.id,
            lambda batch: self._batch_activity(PARTITION_BATCH, request.model_copy(update={"batch": batch})),
        )
        await self._follow(steps, visits, track)

    async def _per_member(
        self, track: str, step: UpdateStep | ScoreStep, following: str | None, visits: dict[str, int]
    ) -> None:
        next_track = self._new_track(following) if following is not None else None
        now = workflow.now()

        def call(batch: MemberBatch) -> Awaitable[BatchOutcome]:
            if isinstance(step, UpdateStep):
                return self._batch_activity(
                    UPDATE_BATCH,
                    UpdateBatchInput(
                        batch=batch,
                        journey_id=self._journey.journey_id,
                        version=self._journey.version,
                        spec=step.update,
                        subject=batch_subject(self._subject),
                        visit=visits[step.id],
                        occurred_at=now,
                        next_step=following,
                        next_track=next_track,
                    ),
                )
            return self._batch_activity(
                SCORE_BATCH,
                ScoreBatchInput(
                    batch=batch,
                    spec=step.score,
                    visit=visits[step.id],
                    occurred_at=now,
                    next_step=following,
                    next_track=next_track,
                ),
            )

        await self._over_batches(track, step.id, call)
        await self._follow({next_track: following} if next_track else {}, visits, track)

    async def _dr_performance(
        self, track: str, step: DrPerformanceStep, following: str | None, visits: dict[str, int]
    ) -> None:
        spec = step.dr_performance
        window = _window(self._subject)
        if window is None:  # not a DR event: nothing to measure
            await self._move_on(track, following, visits)
            return
        give_up_at = workflow.now() + spec.wait_for_reads
        poll = READS_POLL
        while self._members(track) > 0:
            give_up = workflow.now() >= give_up_at
            next_track = self._new_track(following) if following is not None else None

            def request(
                batch: MemberBatch, next_track: str | None = next_track, give_up: bool = give_up
            ) -> DrPerformanceInput:
                return DrPerformanceInput(
                    batch=batch,
                    dr_event_id=str(self._subject.get("dr_event_id")),
                    event_start=window[0],
                    event_end=window[1],
                    credit_per_kwh=spec.credit_per_kwh,
                    give_up=give_up,
                    next_step=following,
                    next_track=next_track,
                )

            await self._over_batches(
                track, step.id, lambda batch: self._batch_activity(DR_PERFORMANCE_BATCH, request(batch))
            )
            left = await self._follow({next_track: following} if next_track else {}, visits, track)
            if give_up or left == 0:
                return
            await workflow.sleep(min(poll, max(give_up_at - workflow.now(), timedelta(seconds=1))))
            poll = min(poll * 2, READS_POLL_MAX)

    async def _move_on(self, track: str, step_id: str | None, visits: dict[str, int]) -> None:
        next_track = self._new_track(step_id) if step_id is not None else None
        moved = await self._move_track(track, step_id, next_track)
        if next_track is not None:
            self._spans[next_track] = self._spans[track]
            self._spawn(next_track, step_id, moved, visits, parent=track)

    async def _move_track(self, track: str, step_id: str | None, next_track: str | None = None) -> int:
        moved: int = await self._bookkeeping(
            MOVE_TRACK,
            MoveTrackInput(run_id=self._run_id, track=track, next_step=step_id, next_track=next_track),
            result_type=int,
        )
        self._went_on(track, moved)
        return moved

    # --- members joining the run ------------------------------------------------------------------
    async def _join_loop(self) -> None:
        """Each triggering event the run hears (a second outage report merged into the incident): the
        customers it names who are not members yet join at the first step, in a track of their own,
        and go through the journey from there (their own hold, their own first notice)."""
        while True:
            await workflow.wait_condition(lambda: bool(self._joins))
            event, since = self._joins[0]
            track = self._new_track(self._journey.first_step)
            try:
                joined: TrackSpan = await workflow.execute_activity(
                    ADD_MEMBERS,
                    ResolveAudienceInput(
                        run_id=self._run_id,
                        journey_id=self._journey.journey_id,
                        version=self._journey.version,
                        cohort_key=self._input.cohort_key,
                        trigger_event_id=event.event_id,
                        audience=self._cohort.audience,
                        subject=event.namespace(),
                        first_step=self._journey.first_step,
                        track=track,
                    ),
                    result_type=TrackSpan,
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=_BOOKKEEPING_RETRY,
                    # an exit waits for a join in progress, so its members are released with the rest
                    cancellation_type=_BATCH_CANCELLATION,
                )
            except ActivityError as error:
                cause = error.cause
                if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                    raise
                joined = TrackSpan()  # bad input on this event (an audience expression): nobody joins
            self._joins.pop(0)
            if joined.members > 0:
                self._state.members += joined.members
                self._spans[track] = (joined.lo, joined.hi)
                self._since[track] = since
                self._spawn(track, self._journey.first_step, joined.members)

    # --- on_update notices ------------------------------------------------------------------------
    async def _notice_loop(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: bool(self._notices) or self._subject_recorded != self._subject_version
            )
            if self._subject_recorded != self._subject_version:
                self._subject_recorded = self._subject_version
                await self._record("running")
            while self._notices:
                await self._notify(self._notices.pop(0))

    async def _notify(self, event: EventRef) -> None:
        for n, notice in enumerate(self._cohort.on_update):
            if notice.event != event.type:
                continue
            field = notice.moved_by.field if notice.moved_by is not None else None
            new_value = event.payload.get(field) if field is not None else None
            # the value last notified; at first, the one the run's first message showed
            shown = self._first_shown if self._first_shown is not None else self._subject
            last_value = self._notice_value.get(n, shown.get(field) if field is not None else None)
            told = self._notice_fields.get(n, {name: shown.get(name) for name in notice.changed})
            now_shown = {name: self._subject.get(name) for name in notice.changed}
            now = workflow.now()
            if not update_notice_due(notice, last_value, self._notice_at.get(n), new_value, now):
                continue
            if notice.changed and not fields_changed(told, now_shown):
                continue
            waiting = [
                (track, state.step_id)
                for track, state in list(self._state.tracks.items())
                if state.step_id in notice.at_steps and state.members > 0
            ]
            if await self._send_notice(event.type, notice.send, waiting) > 0:
                # what customers were told is the new baseline; a notice nobody got is none
                self._notice_at[n] = now
                self._notice_value[n] = new_value
                if notice.changed:
                    self._notice_fields[n] = now_shown

    async def _notify_exit(self, event: EventRef) -> None:
        """The exit event's notice (a cancelled DR event) to the members waiting at its steps, once
        the tracks have stopped: counted in the table, so that members a stopped batch had moved to a
        track not started yet hear it too."""
        for notice in self._cohort.on_update:
            if notice.event != event.type:
                continue
            tracks = [track for track, step in self._track_steps.items() if step in notice.at_steps]
            if not tracks:
                continue
            spans: dict[str, TrackSpan] = await self._bookkeeping(
                COUNT_TRACKS,
                CountTracksInput(run_id=self._run_id, tracks=tracks),
                result_type=dict[str, TrackSpan],
            )
            waiting = []
            for track in tracks:
                if spans[track].members > 0:
                    self._spans[track] = (spans[track].lo, spans[track].hi)
                    waiting.append((track, self._track_steps[track]))
            await self._send_notice(event.type, notice.send, waiting)

    async def _send_notice(self, event_type: str, send: SendSpec, waiting: list[tuple[str, str]]) -> int:
        """An `on_update` notice to the members of the `waiting` (track, step) pairs, who stay where
        they are; keyed by step id `{event type}#{n}`. Returns how many were sent it."""
        self._notices_sent[event_type] = self._notices_sent.get(event_type, 0) + 1
        step_id = f"{event_type}#{self._notices_sent[event_type]}"
        sent = 0
        for track, at_step in waiting:

            def request(
                batch: MemberBatch, at_step: str = at_step, track: str = track, spec: SendSpec = send
            ) -> CohortSendInput:
                return self._send_input(batch, spec, 1, at_step, track, stay=True)

            outcome = await self._over_batches(track, step_id, lambda batch: self._send_batch(request(batch)))
            sent += outcome.counts.get("sent", 0) + outcome.counts.get("duplicate", 0)
        return sent

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
            cancellation_type=_BATCH_CANCELLATION,
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
            retry_policy=_BOOKKEEPING_RETRY,
        )


def _ids(payload: dict[str, Any], name: str) -> list[str]:
    return [str(value) for value in payload.get(name) or []]


def _window(subject: dict[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return datetime.fromisoformat(str(subject["start"])), datetime.fromisoformat(str(subject["end"]))
    except (KeyError, ValueError):
        return None
