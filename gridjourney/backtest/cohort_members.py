"""A cohort backtest's members, each a small state machine through the journey's steps
(backtest/cohort_replay.py starts the runs and hears their events): sends judged as the send batch
judges them (backtest/messages.py), waits aimed from the moment the member reached them, wait_for
steps ended by the events the run heard that name the member's place, branches and splits by the
engine's own functions (workflows/decisions.py), updates folded into the customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridjourney.backtest.steps import ReplaySteps, Waiting
from gridjourney.dsl.expressions import ExpressionError, evaluate
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
from gridjourney.workflows.cohort_decisions import batch_subject, cohort_wait_end, wait_for_accepts
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.decisions import choose_branch, choose_split, target

# What a cohort backtest does not replay, as the report says it (`not_replayed`) when it applies.
NOT_REPLAYED = {
    "target": "audience.target: the DR target's pick by expected reduction is not replayed; every "
    "customer of the audience is counted",
    "dr_performance": "dr_performance: nothing is measured; members go on at once (the engine waits "
    "up to wait_for_reads for meter reads)",
    "score": "score steps do not score (no models run in a backtest)",
}


@dataclass
class CohortRun:
    """One cohort run: CohortWorkflow's subject and the events its wait_for steps read."""

    run_id: str
    subject: dict[str, Any]
    members: dict[str, Member] = field(default_factory=dict)
    heard: list[EventRef] = field(default_factory=list)  # events of the journey's wait_for types
    open: bool = True
    # on_update notices (backtest/cohort_notices.py): the subject as the first message showed it, and
    # per notice (its index in on_update) when it was last sent, the value and fields it told
    first_shown: dict[str, Any] | None = None
    notice_at: dict[int, datetime] = field(default_factory=dict)
    notice_value: dict[int, Any] = field(default_factory=dict)
    notice_fields: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Member:
    run: CohortRun
    customer_id: str
    holdout: bool
    grid: tuple[str | None, str | None, str | None]  # premise, transformer, feeder when they joined
    since: int  # the first of run.heard its wait_for steps read (members who joined later: their join)
    step_id: str | None = None
    waiting: Waiting | None = None
    started: datetime | None = None  # when the member reached its wait step (the wait is aimed from it)
    timer: int = 0  # the live timer's number; a timer with another number was cancelled
    visits: dict[str, int] = field(default_factory=dict)
    open: bool = True
    told: bool = False  # a message of the run was sent to them

    @property
    def instance_id(self) -> str:
        return self.run.run_id


class MemberSteps(ReplaySteps[Member]):
    """The members' steps; CohortReplay sets the state below."""

    _journey_namespace: dict[str, Any]

    # --- steps --------------------------------------------------------------------------------------
    def _go(self, member: Member, step_id: str | None) -> None:
        """Run the member's steps from `step_id` until one waits or the steps end."""
        while step_id is not None:
            member.step_id = step_id
            step = self.journey.step(step_id)
            self.report.steps[step_id].reach(member.customer_id)
            following = self.journey.successors.get(step_id)
            if isinstance(step, SendStep):
                if member.run.first_shown is None:  # as CohortSteps._send
                    member.run.first_shown = dict(member.run.subject)
                if self._send(member, step):
                    return
                step_id = following
            elif isinstance(step, WaitStep):
                member.started = self.now
                try:
                    deadline = cohort_wait_end(
                        step.wait, self.now, member.run.subject, self._journey_namespace
                    )
                except ExpressionError:  # as the workflow: `until` gave no time, go on
                    self._done(member, step, "skipped")
                    step_id = following
                    continue
                if deadline <= self.now:
                    self._done(member, step, "waited")
                    step_id = following
                    continue
                self._wait(member, "wait", deadline)
                return
            elif isinstance(step, WaitForStep):
                if any(self._counts(member, step, e) for e in member.run.heard[member.since :]):
                    step_id = self._after_wait_for(member, step, "event")
                    continue
                self._wait(member, "wait_for", self.now + step.wait_for.timeout)
                return
            else:
                step_id = self._instant(member, step, following)
        member.step_id = None
        self._close(member, "completed")

    def _instant(self, member: Member, step: AnyStep, following: str | None) -> str | None:
        """A step that takes no time: the step after it."""
        subject = batch_subject(member.run.subject)
        if isinstance(step, BranchStep):
            namespace = {
                "event": subject,
                "customer": self._customer(member),
                "journey": {"id": self.journey.journey_id},
            }
            goto = choose_branch(step, namespace)
            self._done(member, step, goto or "no_case")
            return target(goto) if goto else following
        if isinstance(step, SplitStep):
            arm = choose_split(step, self.journey.journey_id, member.customer_id)
            self._done(member, step, arm.label or arm.goto)
            return target(arm.goto)
        if isinstance(step, ScoreStep):
            self._not_replayed("score")
            self._done(member, step, "not_scored")
            return following
        if isinstance(step, UpdateStep):
            value: Any = step.update.value
            if step.update.expression is not None:
                namespace = {
                    "event": subject,
                    "customer": self._customer(member),
                    "journey": self._journey_namespace,
                }
                try:
                    value = evaluate(step.update.expression, namespace)
                except ExpressionError:  # as UPDATE_BATCH: keep the attribute as it was
                    self._done(member, step, "skipped")
                    return following
            self.customers.set_attribute(member.customer_id, step.update.attribute, value)
            self._done(member, step, "updated")
            return following
        if isinstance(step, DrPerformanceStep):
            self._not_replayed("dr_performance")
            self._done(member, step, "not_measured")
            return following
        return None  # end

    def _sent(self, member: Member) -> None:
        member.told = True

    def _counts(self, member: Member, step: WaitForStep, event: EventRef) -> bool:
        """Whether `event` ends the member's wait_for: its type and `when` (over the event and the
        run's subject), and the places it names (MATCH_EVENT: naming none, it names every member)."""
        spec = step.wait_for
        if event.type != spec.event or not wait_for_accepts(
            spec.when, event.namespace(), member.run.subject, self._journey_namespace
        ):
            return False
        named = [
            [str(v) for v in event.payload.get(name) or []]
            for name in ("premise_ids", "transformer_ids", "feeder_ids")
        ]
        if not any(named):
            return True
        return any(place is not None and place in ids for place, ids in zip(member.grid, named, strict=True))

    def _run_timer(self) -> Member:
        member = super()._run_timer()
        self._close_run_if_done(member.run)
        return member

    def _close(self, member: Member, reason: str) -> None:
        member.open, member.waiting = False, None
        self.report.exits[reason] += 1

    def _close_run_if_done(self, run: CohortRun) -> None:
        if run.open and not any(member.open for member in run.members.values()):
            run.open = False

    def _not_replayed(self, what: str) -> None:
        if NOT_REPLAYED[what] not in self.report.not_replayed:
            self.report.not_replayed.append(NOT_REPLAYED[what])
