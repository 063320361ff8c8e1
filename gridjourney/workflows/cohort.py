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
History holds batch activities and signals. When Temporal suggests it (or the history reaches the
input's `continue_after`), the run continues as new at a safe point, when every track waits at a wait
or wait_for step and nothing is in flight, carrying its state (cohort_contracts.CohortCarry: the
subject, seen events, tracks and where their waits end); the tracks go on waiting where they were.

The parts: the run's state and calls (workflows/cohort_base.py), tracks (cohort_tracks.py), steps
(cohort_steps.py), joins and on_update notices (cohort_updates.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from gridjourney.workflows.cohort_contracts import (
        COHORT_STATE_QUERY,
        RESOLVE_AUDIENCE,
        AudienceOutcome,
        CohortInput,
        CohortState,
        ResolveAudienceInput,
    )
    from gridjourney.workflows.cohort_decisions import newer_update, updated_subject
    from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef

from gridjourney.workflows.cohort_updates import CohortUpdates

# workflow.patched id: histories recorded before it cancelled a notice or join in progress on exit.
EXIT_LETS_NOTICES_FINISH = "exit-lets-notices-finish"
# workflow.patched id: histories recorded before a cancellation became an exit (reason `cancelled`).
CANCEL_EXITS = "cancel-exits"
CANCELLED = "cancelled"


@workflow.defn(name="CohortWorkflow")
class CohortWorkflow(CohortUpdates):
    @workflow.init
    def __init__(self, input: CohortInput) -> None:
        super().__init__(input)

    # --- handlers ---------------------------------------------------------------------------------
    @workflow.signal(name=JOURNEY_EVENT_SIGNAL)
    def on_event(self, event: EventRef) -> None:
        if event.event_id in self._seen or self._state.status in ("completed", "exited", "failed"):
            return
        self._seen.add(event.event_id)
        if event.type in self._journey.definition.exit_event_types:
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
        if input.carried is not None:  # continued as new: the tracks go on waiting where they were
            for track, parked in input.carried.parked.items():
                members = input.carried.state.tracks[track].members
                self._spawn(track, parked.step_id, members, parked.visits, resume=parked)
        elif not await self._start(input):
            return self._state
        notices = asyncio.create_task(self._notice_loop())
        joins = asyncio.create_task(self._join_loop())
        cancelled = False
        try:
            await workflow.wait_condition(
                lambda: (
                    self._exit_reason is not None
                    or (self._live == 0 and not self._joins)
                    or self._may_continue()
                )
            )
        except asyncio.CancelledError:
            # Cancelled (POST /v1/instances/{id}/cancel, or Temporal): an exit like exit_on's, reason
            # `cancelled`: the batches stop, every member leaves, the run records it; then Temporal
            # marks the run cancelled.
            if not workflow.patched(CANCEL_EXITS):
                raise
            cancelled = True
            self._exit_reason = self._exit_reason or CANCELLED
        if self._exit_reason is None and self._live > 0 and self._may_continue():
            carry = self._carry()  # before the tracks stop (a stopped track is parked no more)
            notices.cancel()
            joins.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, notices, joins, return_exceptions=True)
            workflow.continue_as_new(input.model_copy(update={"carried": carry}))
        if self._exit_reason is not None and workflow.patched(EXIT_LETS_NOTICES_FINISH):
            # A notice or join in the middle of an activity finishes first: cancelling an activity
            # the server has scheduled but not started can meet it already gone (ACTIVITY_UNKNOWN).
            await workflow.wait_condition(lambda: not self._notifying and not self._joins)
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
            if cancelled:
                raise asyncio.CancelledError("cohort run cancelled")
        else:
            await asyncio.gather(notices, joins, return_exceptions=True)
            self._state.status = "completed"
            await self._record("completed")
        return self._state

    async def _start(self, input: CohortInput) -> bool:
        """Resolve the audience and start its first track; False: the input is bad (the run failed)."""
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
            return False
        self._state.members, self._state.holdout = audience.members, audience.holdout
        self._state.status = "running"
        await self._record("running")
        self._spans[first] = (0, audience.members)
        self._spawn(first, self._journey.first_step, audience.members)
        return True

    def _may_continue(self) -> bool:
        """Whether to continue as new now: Temporal suggests it (or the history reached
        `continue_after`), and it is safe: every track waits at a wait or wait_for step and nothing is
        in flight (no batch, no join, no notice, the subject recorded)."""
        if self._joins or self._notices or self._notifying or self._exit_reason is not None:
            return False
        if self._live == 0 or len(self._parked) != self._live:
            return False
        if self._subject_recorded != self._subject_version:
            return False
        info = workflow.info()
        limit = self._input.continue_after
        if limit is not None and info.get_current_history_length() >= limit:
            return True
        return info.is_continue_as_new_suggested()

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
