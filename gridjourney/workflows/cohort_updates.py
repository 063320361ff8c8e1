"""CohortWorkflow's answers to events after the start (workflows/cohort.py): members joining from a
later triggering event, and the `on_update` notices (an exit's too).

A notice tells a change to the members who were told of the event: a message of the run was sent to
them. A member waiting at the notice's steps whom none reached (the first notice was suppressed, e.g.
by an active outage at the time) gets the run's first message instead, with the event as it now
stands: "the event has moved" means nothing to someone who never heard of it. An exit's notice (a
cancelled DR event) goes to the told members only: there is nothing to call off for the others."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.schema import SendSpec, SendStep
    from gridjourney.workflows.cohort_contracts import (
        ADD_MEMBERS,
        COUNT_TRACKS,
        CohortSendInput,
        CountTracksInput,
        MemberBatch,
        ResolveAudienceInput,
        TrackSpan,
    )
    from gridjourney.workflows.cohort_decisions import fields_changed, update_notice_due
    from gridjourney.workflows.contracts import EventRef

from gridjourney.workflows.cohort_base import BATCH_CANCELLATION, BOOKKEEPING_RETRY
from gridjourney.workflows.cohort_steps import CohortSteps

# workflow.patched id: histories recorded before a notice was split into the told and the untold.
NOTICES_TO_THE_TOLD = "notices-to-the-told"


class CohortUpdates(CohortSteps):
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
                    retry_policy=BOOKKEEPING_RETRY,
                    # an exit waits for a join in progress, so its members are released with the rest
                    cancellation_type=BATCH_CANCELLATION,
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
            self._notifying = True  # no continue-as-new meanwhile
            try:
                if self._subject_recorded != self._subject_version:
                    self._subject_recorded = self._subject_version
                    await self._record("running")
                while self._notices:
                    await self._notify(self._notices.pop(0))
            finally:
                self._notifying = False

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
            if await self._send_notice(event.type, notice.send, waiting, untold=self._first_send()) > 0:
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
            await self._send_notice(event.type, notice.send, waiting, untold=None)

    def _first_send(self) -> SendSpec | None:
        """The run's first message: what a member who was told nothing yet gets instead of a notice."""
        for step in self._journey.definition.steps:
            if isinstance(step, SendStep):
                return step.send
        return None

    async def _send_notice(
        self, event_type: str, send: SendSpec, waiting: list[tuple[str, str]], *, untold: SendSpec | None
    ) -> int:
        """An `on_update` notice to the members of the `waiting` (track, step) pairs, who stay where
        they are; keyed by step id `{event type}#{n}`, one message per member whichever they get.
        `untold`: what the members no message of the run reached get instead (None: nothing).
        Returns how many were sent one."""
        self._notices_sent[event_type] = self._notices_sent.get(event_type, 0) + 1
        step_id = f"{event_type}#{self._notices_sent[event_type]}"
        passes: list[tuple[bool | None, SendSpec]] = [(None, send)]
        if workflow.patched(NOTICES_TO_THE_TOLD):
            passes = [(True, send)]
            if untold is not None:
                passes.append((False, untold))
        sent = 0
        for track, at_step in waiting:
            for told, spec in passes:

                def request(
                    batch: MemberBatch,
                    at_step: str = at_step,
                    track: str = track,
                    spec: SendSpec = spec,
                    told: bool | None = told,
                ) -> CohortSendInput:
                    batch = batch.model_copy(update={"told": told})
                    return self._send_input(batch, spec, 1, at_step, track, stay=True)

                outcome = await self._over_batches(
                    track, step_id, lambda batch: self._send_batch(request(batch))
                )
                sent += outcome.counts.get("sent", 0) + outcome.counts.get("duplicate", 0)
        return sent
