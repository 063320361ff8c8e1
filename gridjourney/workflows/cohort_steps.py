"""CohortWorkflow's steps over a track (workflows/cohort.py): send (deferred members asked again at
the next window), wait (one timer, aimed again when the subject moves), wait_for, branch and split,
update and score, dr_performance."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.expressions import ExpressionError
    from gridjourney.dsl.schema import (
        AnyStep,
        BranchStep,
        DrPerformanceStep,
        ScoreStep,
        SendStep,
        SplitStep,
        UpdateStep,
        WaitForStep,
        WaitStep,
    )
    from gridjourney.workflows.cohort_contracts import (
        DR_PERFORMANCE_BATCH,
        MATCH_EVENT,
        PARTITION_BATCH,
        SCORE_BATCH,
        UPDATE_BATCH,
        BatchOutcome,
        CohortSendInput,
        DrPerformanceInput,
        MatchEventInput,
        MemberBatch,
        ParkedTrack,
        PartitionInput,
        ScoreBatchInput,
        TrackSpan,
        UpdateBatchInput,
    )
    from gridjourney.workflows.cohort_decisions import batch_subject, cohort_wait_end, wait_for_accepts
    from gridjourney.workflows.decisions import target

from gridjourney.workflows.cohort_base import PAST_DEFERRAL
from gridjourney.workflows.cohort_tracks import CohortTracks

# dr_performance: look for reads again after 1 h, 2 h, 4 h ... at most 12 h apart, so that a wait of
# days for late reads costs a few rounds of batches, not one every hour (history stays small).
READS_POLL = timedelta(hours=1)
READS_POLL_MAX = timedelta(hours=12)


class CohortSteps(CohortTracks):
    async def _step(
        self, track: str, step: AnyStep, visits: dict[str, int], resume: ParkedTrack | None = None
    ) -> None:
        following = self._journey.successors.get(step.id)
        if isinstance(step, SendStep):
            await self._send(track, step, following, visits)
        elif isinstance(step, WaitStep):
            await self._wait(track, step, following, visits, resume)
        elif isinstance(step, WaitForStep):
            await self._wait_for(track, step, following, visits, resume)
        elif isinstance(step, BranchStep | SplitStep):
            await self._partition(track, step, following, visits)
        elif isinstance(step, UpdateStep | ScoreStep):
            await self._per_member(track, step, following, visits)
        elif isinstance(step, DrPerformanceStep):
            await self._dr_performance(track, step, following, visits)
        else:  # EndStep
            await self._move_track(track, None)

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
            await workflow.sleep(max(deferred_until - workflow.now(), PAST_DEFERRAL))

    async def _wait(
        self,
        track: str,
        step: WaitStep,
        following: str | None,
        visits: dict[str, int],
        resume: ParkedTrack | None = None,
    ) -> None:
        started = resume.started if resume is not None and resume.started else workflow.now()
        while True:
            seen = self._subject_version
            try:
                end = cohort_wait_end(step.wait, started, self._subject, self._journey_namespace)
            except ExpressionError:  # `until` gave no time: go on rather than stall the run
                break
            remaining = end - workflow.now()
            if remaining <= timedelta(0):
                break
            # parked: a continue-as-new may take the run here and resume the wait from `started`
            self._parked[track] = ParkedTrack(step_id=step.id, visits=visits, started=started)
            try:
                await workflow.wait_condition(partial(self._subject_moved, seen), timeout=remaining)
            except TimeoutError:
                break
            finally:
                self._parked.pop(track, None)
        await self._move_on(track, following, visits)

    async def _wait_for(
        self,
        track: str,
        step: WaitForStep,
        following: str | None,
        visits: dict[str, int],
        resume: ParkedTrack | None = None,
    ) -> None:
        spec = step.wait_for
        on_event = following if spec.on_event is None else target(spec.on_event)
        on_timeout = following if spec.on_timeout is None else target(spec.on_timeout)
        deadline = workflow.now() + spec.timeout
        read = self._since.get(track, 0)  # members who joined later: only events since they joined
        if resume is not None and resume.deadline is not None:
            deadline, read = resume.deadline, resume.read
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
            events_read = read
            self._parked[track] = ParkedTrack(
                step_id=step.id, visits=visits, deadline=deadline, read=events_read
            )
            try:
                await workflow.wait_condition(partial(self._more_events, events_read), timeout=remaining)
            except TimeoutError:
                break
            finally:
                self._parked.pop(track, None)
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


def _ids(payload: dict[str, Any], name: str) -> list[str]:
    return [str(value) for value in payload.get(name) or []]


def _window(subject: dict[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return datetime.fromisoformat(str(subject["start"])), datetime.fromisoformat(str(subject["end"]))
    except (KeyError, ValueError):
        return None
