"""A cohort backtest's members, each a small state machine through the journey's steps
(backtest/cohort_replay.py starts the runs and hears their events): sends judged as the send batch
judges them (backtest/messages.py), waits aimed from the moment the member reached them, wait_for
steps ended by the events the run heard that name the member's place, branches and splits by the
engine's own functions (workflows/decisions.py), updates folded into the customers."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gridjourney.backtest.customers import Customers
from gridjourney.backtest.messages import MessageJudge
from gridjourney.backtest.report import BacktestReport
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schema import (
    AnyStep,
    BranchStep,
    CompiledJourney,
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
Waiting = Literal["wait", "wait_for", "send"]


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


class MemberSteps:
    """The members' steps and timers; CohortReplay sets the state below."""

    journey: CompiledJourney
    customers: Customers
    messages: MessageJudge
    report: BacktestReport
    now: datetime
    _journey_namespace: dict[str, Any]

    def __init__(self) -> None:
        self._timers: list[tuple[datetime, int, int, Member]] = []
        self._sequence = itertools.count()

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
                    step_id = self._outcome_of_wait_for(member, step, "event")
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

    def _send(self, member: Member, step: SendStep) -> bool:
        """Judge the member's message now; True when quiet hours deferred it (the member waits)."""
        stats = self.report.steps[step.id]
        if member.holdout:
            stats.held_out += 1
            self._done(member, step, "holdout")
            return False
        judged = self.messages.judge(member.run.run_id, member.customer_id, step, self.now)
        if judged.deferred_until is not None:
            stats.deferred += 1
            self._wait(member, "send", judged.deferred_until)
            return True
        if judged.channel is None or judged.locale is None:
            stats.refused += 1
            stats.suppressed.update(judged.refusals)
            self._done(member, step, "suppressed")
            return False
        stats.messages[(judged.channel, step.send.template, judged.locale)] += 1
        self.customers.record_send(
            member.customer_id, self.now, self.journey.definition.purpose, judged.channel
        )
        member.told = True
        self._done(member, step, f"sent:{judged.channel}")
        return False

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

    def _outcome_of_wait_for(self, member: Member, step: WaitForStep, outcome: str) -> str | None:
        self._done(member, step, outcome)
        spec = step.wait_for
        chosen = spec.on_event if outcome == "event" else spec.on_timeout
        return self.journey.successors.get(step.id) if chosen is None else target(chosen)

    def _after_wait_for(self, member: Member, step: WaitForStep, outcome: str) -> None:
        self._go(member, self._outcome_of_wait_for(member, step, outcome))

    def _done(self, member: Member, step: AnyStep, outcome: str) -> None:
        member.visits[step.id] = member.visits.get(step.id, 0) + 1
        if not isinstance(step, SendStep):
            self.report.steps[step.id].outcomes[outcome] += 1

    # --- time -------------------------------------------------------------------------------------
    def _wait(self, member: Member, kind: Waiting, deadline: datetime) -> None:
        member.waiting = kind
        member.timer = next(self._sequence)
        heapq.heappush(self._timers, (deadline, member.timer, member.timer, member))

    def _next_timer(self, before: datetime) -> datetime | None:
        """When the next live timer before `before` ends (None: none does)."""
        while self._timers and self._timers[0][0] < before:
            _, _, number, member = self._timers[0]
            if member.open and number == member.timer:
                return self._timers[0][0]
            heapq.heappop(self._timers)
        return None

    def _run_timer(self) -> None:
        """The next timer (`_next_timer` found it live)."""
        deadline, _, _, member = heapq.heappop(self._timers)
        self.now = max(self.now, deadline)
        self._wake(member)
        self._close_run_if_done(member.run)

    def _wake(self, member: Member) -> None:
        kind, member.waiting = member.waiting, None
        assert member.step_id is not None
        step = self.journey.step(member.step_id)
        following = self.journey.successors.get(step.id)
        if kind == "send" and isinstance(step, SendStep):
            if self._send(member, step):
                return
        elif kind == "wait_for" and isinstance(step, WaitForStep):
            following = self._outcome_of_wait_for(member, step, "timeout")
        else:
            self._done(member, step, "waited")
        self._go(member, following)

    def _customer(self, member: Member) -> dict[str, Any]:
        state = self.customers.get(member.customer_id)
        return state.record.namespace() if state is not None else {}

    def _close(self, member: Member, reason: str) -> None:
        member.open, member.waiting = False, None
        self.report.exits[reason] += 1

    def _close_run_if_done(self, run: CohortRun) -> None:
        if run.open and not any(member.open for member in run.members.values()):
            run.open = False

    def _not_replayed(self, what: str) -> None:
        if NOT_REPLAYED[what] not in self.report.not_replayed:
            self.report.not_replayed.append(NOT_REPLAYED[what])
