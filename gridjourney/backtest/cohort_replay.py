"""The backtest's replay of a cohort journey (`mode: cohort`): each triggering event of the period (a DR
event, an outage incident) starts one run, as the router would (router/cohorts.py); the run's audience
is resolved from the customers as the projections held them at that moment; its members go through
the steps, in memory, with simulated time. Nothing is sent and no workflow starts.

Every decision is the engine's own function: which events start a run and its key
(router/cohorts.py `triggered_cohorts`, `event_key`, `bounded_key`, with an outage's incident mapped
to its canonical one as `CohortRouting._key` does), the audience's sources, `where` filter and
holdout (cohorts/audience.py), the subject after an `updates` event and where a wait ends
(workflows/cohort_decisions.py), branches and splits (workflows/decisions.py), which `wait_for` events
count, and each message's eligibility (backtest/messages.py, activities/eligibility.py `judge`).

CohortWorkflow moves members in tracks of batches; each member's path through the steps is its own
(a member deferred by quiet hours goes on when sent, the others at once), so the replay follows each
member as a small state machine, like backtest/replay.py follows a per-customer run:
- send: holdout members are sent nothing and go on; a deferral waits until the moment `judge` named;
- wait: from the moment the member reached it, aimed again when an `updates` event moves the subject;
- wait_for: every event of the type the run has heard since the member joined counts, if it names the
  member's premise, transformer or feeder (or names none of them);
- a second triggering event of a running run's key adds the customers it names who are not members
  yet (an audience of places only, cohorts/activities.py ADD_MEMBERS); one of a finished run starts
  nothing (the run id stays taken);
- exit_on: every member still in the run leaves with the event type as reason.
What is not replayed is listed in the report's `not_replayed` (see NOT_REPLAYED).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gridjourney.backtest.customers import PROGRAM_EVENT_TYPES, STATE_EVENT_TYPES, Customers, CustomerState
from gridjourney.backtest.messages import MessageJudge
from gridjourney.backtest.replay import ALL_CHANNELS, HORIZON
from gridjourney.backtest.report import EXAMPLES, BacktestReport, StepReport
from gridjourney.cohorts.audience import (
    BadCohortInput,
    audience_grid,
    audience_holds,
    audience_program,
    held_out,
)
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schedule import SCHEDULE_EVENT, ScheduleSpec, fire_times
from gridjourney.dsl.schema import (
    AnyStep,
    BranchStep,
    Channel,
    CohortSpec,
    CompiledJourney,
    DrPerformanceStep,
    ScoreStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.events.models import StoredEvent
from gridjourney.policy.model import Policy
from gridjourney.router.cohorts import (
    bounded_key,
    cohort_listened_types,
    cohort_run_id,
    event_key,
    triggered_cohorts,
)
from gridjourney.router.router import event_ref, is_routed
from gridjourney.schedules.workflow import fire_run_id, scheduled_cohort
from gridjourney.workflows.cohort_decisions import (
    batch_subject,
    cohort_wait_end,
    newer_update,
    updated_subject,
    wait_for_accepts,
)
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.decisions import KINDS, choose_branch, choose_split, target

COHORT_STATE_EVENT_TYPES = STATE_EVENT_TYPES | PROGRAM_EVENT_TYPES
# What a cohort backtest does not replay, as the report says it (`not_replayed`) when it applies.
NOT_REPLAYED = {
    "target": "audience.target: the DR target's pick by expected reduction is not replayed; every "
    "customer of the audience is counted",
    "on_update": "on_update notices (a DR event moved or cancelled, a new outage estimate) are not "
    "replayed: they are not counted",
    "dr_performance": "dr_performance: nothing is measured; members go on at once (the engine waits "
    "up to wait_for_reads for meter reads)",
    "score": "score steps do not score (no models run in a backtest)",
}
Waiting = Literal["wait", "wait_for", "send"]
RUN_OVER = "cohort run already over"
FIRES_AT_ONCE = 1000  # a triggering event of a finished run's key starts nothing


@dataclass
class _Run:
    """One cohort run: CohortWorkflow's subject and the events its wait_for steps read."""

    run_id: str
    subject: dict[str, Any]
    members: dict[str, _Member] = field(default_factory=dict)
    heard: list[EventRef] = field(default_factory=list)  # events of the journey's wait_for types
    open: bool = True


@dataclass
class _Member:
    run: _Run
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


class CohortReplay:
    def __init__(
        self,
        journey: CompiledJourney,
        policy: Policy,
        start: datetime,
        end: datetime,
        *,
        templates_dir: Path | None = None,
        channels: Collection[Channel] = ALL_CHANNELS,
        horizon: timedelta = HORIZON,
        canonical_incidents: Mapping[str, str] | None = None,
    ) -> None:
        self._fires: list[datetime] = []  # a schedule trigger's fire times in the period, in UTC
        self._fired = 0
        schedule = journey.definition.schedule
        if schedule is not None and schedule.schedule is not None:
            self._fires = schedule_fires(schedule.schedule, policy.default_time_zone, start, end)
            journey = scheduled_cohort(journey)  # as ScheduleFireWorkflow runs it
        if journey.definition.mode != "cohort" or journey.definition.cohort is None:
            raise ValueError("a cohort backtest replays journeys with `mode: cohort` and a `cohort` block")
        self.journey, self.policy = journey, policy
        self.cohort: CohortSpec = journey.definition.cohort
        self.start, self.end, self.horizon = start, end, horizon
        self.canonical_incidents = canonical_incidents or {}
        self.customers = Customers()
        self.messages = MessageJudge(journey, policy, self.customers, channels, templates_dir)
        self.report = BacktestReport(journey.journey_id, start, end)
        for step in journey.definition.steps:
            self.report.steps.setdefault(
                step.id, StepReport(step.id, KINDS.get(type(step), "dr_performance"))
            )
        self.now = start
        self._timers: list[tuple[datetime, int, int, _Member]] = []
        self._sequence = itertools.count()
        self._runs: dict[str, _Run] = {}  # run id → the run (finished ones too: their ids stay taken)
        self._listened = cohort_listened_types(journey)
        self._exits = set(journey.definition.exit_event_types)
        self._trigger_types = {trigger.event for trigger in journey.definition.trigger}
        self._notices = {notice.event for notice in self.cohort.on_update}
        self._awaited = {s.wait_for.event for s in journey.definition.steps if isinstance(s, WaitForStep)}
        self._journey_namespace = {"id": journey.journey_id, "version": journey.version}

    # --- the log ----------------------------------------------------------------------------------
    def feed(self, event: StoredEvent) -> None:
        """The next event of the log, in (occurred_at, position) order."""
        self._run_timers(before=event.occurred_at)
        self.now = max(self.now, event.occurred_at)
        if event.type in COHORT_STATE_EVENT_TYPES:
            self.customers.apply(event)
        if not self.start <= event.occurred_at < self.end or not is_routed(event.type):
            return
        ref = event_ref(event)
        # the router's order (router/cohorts.py `CohortRouting.route`): a triggering event starts its
        # key's run (or reaches the running one); otherwise a listened type reaches its key's run
        if triggered_cohorts(ref, [self.journey]):
            key = self._key(ref)
            if key is None:
                return
            self.report.triggers_matched += 1
            run = self._runs.get(cohort_run_id(self.journey.journey_id, key))
            if run is None:
                self._start(cohort_run_id(self.journey.journey_id, key), ref)
            elif run.open:
                self._heard(run, ref)
            else:
                self.report.blocked_by_reentry[RUN_OVER] += 1
        elif ref.type in self._listened:
            key = self._key(ref)
            run = None if key is None else self._runs.get(cohort_run_id(self.journey.journey_id, key))
            if run is not None and run.open:
                self._heard(run, ref)

    def seed_send(self, customer_id: str, at: datetime, purpose: str, channel: str) -> None:
        """A message of another journey (the send ledger): it counts against the caps."""
        self.customers.record_send(customer_id, at, purpose, channel)

    def finish(self) -> BacktestReport:
        self._run_timers(before=self.end + self.horizon)
        self.report.still_active = sum(
            1 for run in self._runs.values() for member in run.members.values() if member.open
        )
        return self.report

    def _fire(self, at: datetime) -> None:
        """One fire of the schedule trigger: a run over the audience, its event the fire (as
        schedules/workflow.py ScheduleFireWorkflow starts it)."""
        run_id = fire_run_id(self.journey.journey_id, at)
        if run_id in self._runs:  # the same minute twice: the run id is taken
            self.report.blocked_by_reentry[RUN_OVER] += 1
            return
        self.report.triggers_matched += 1
        fired = EventRef(
            event_id=run_id,
            type=SCHEDULE_EVENT,
            customer_id=None,
            occurred_at=at,
            payload={"scheduled_for": at.isoformat(), "journey_id": self.journey.journey_id},
            position=0,
        )
        self._start(run_id, fired)

    def _key(self, event: EventRef) -> str | None:
        key = event_key(self.journey, event)
        if key is not None and event.type.startswith("outage."):
            key = self.canonical_incidents.get(key, key)
        return None if key is None else bounded_key(key)

    # --- the audience -----------------------------------------------------------------------------
    def _start(self, run_id: str, trigger: EventRef) -> None:
        run = self._runs[run_id] = _Run(run_id, trigger.namespace())
        self.report.cohort_runs += 1
        audience = self.cohort.audience
        if audience.target is not None and self._target_kw(audience.target.kw, run.subject) is not None:
            self._not_replayed("target")
        try:
            members = self._audience(run.subject)
        except BadCohortInput as error:  # as RESOLVE_AUDIENCE: the run fails with the reason
            run.open = False
            self.report.failed_runs[str(error)] += 1
            return
        self._join(run, members)

    def _audience(self, subject: dict[str, Any]) -> list[CustomerState]:
        """The customers the audience's sources, `where` and erasures select now, by customer id
        (cohorts/audience.py with cohorts/audience_queries.py `_audience`, over the fold)."""
        audience = self.cohort.audience
        program, grid = audience_program(audience, subject), audience_grid(audience, subject)
        places = None if grid is None else tuple(set(ids) for ids in grid)
        chosen = []
        for state in self.customers.all():
            record = state.record
            if not state.profiled or state.erased or (program is not None and program not in state.programs):
                continue
            if places is not None and not (
                record.premise_id in places[0]
                or record.transformer_id in places[1]
                or record.feeder_id in places[2]
            ):
                continue
            if audience.where is not None:
                namespace = {
                    "event": subject,
                    "customer": record.namespace(),
                    "journey": self._journey_namespace,
                }
                if not audience_holds(audience.where, namespace):
                    continue
            chosen.append(state)
        return chosen

    @staticmethod
    def _target_kw(expression: str, subject: dict[str, Any]) -> Any:
        """The event's kW target (None: the event gives none, and the engine notifies everyone)."""
        try:
            return evaluate(expression, {"event": subject})
        except ExpressionError:
            return None

    def _join(self, run: _Run, states: list[CustomerState]) -> None:
        """New members at the first step (those already members stay where they are)."""
        since = len(run.heard)
        joining = []
        for state in states:
            customer_id = state.record.customer_id
            if customer_id in run.members:
                continue
            record = state.record
            member = _Member(
                run,
                customer_id,
                held_out(run.run_id, customer_id, self.cohort.audience.holdout),
                (record.premise_id, record.transformer_id, record.feeder_id),
                since,
            )
            run.members[customer_id] = member
            joining.append(member)
            self.report.entered += 1
            self.report.holdout += member.holdout
            if len(self.report.entry_examples) < EXAMPLES:
                self.report.entry_examples.append(customer_id)
        for member in joining:
            if member.open:  # an earlier member's steps may have ended the run (never: no exit here)
                self._go(member, self.journey.first_step)
        if not any(m.open for m in run.members.values()):
            run.open = False

    # --- events a running run hears (CohortWorkflow.on_event) -------------------------------------
    def _heard(self, run: _Run, event: EventRef) -> None:
        if event.type in self._exits:
            if event.type in self._notices:
                self._not_replayed("on_update")
            for member in list(run.members.values()):
                if member.open:
                    self._close(member, event.type)
            run.open = False
            return
        # only an audience of places grows (ADD_MEMBERS); an audience expression failing adds no one
        if event.type in self._trigger_types and self.cohort.audience.grid:
            with contextlib.suppress(BadCohortInput):
                self._join(run, self._audience(event.namespace()))
        if event.type in self.cohort.updates and newer_update(run.subject, event.payload):
            run.subject = updated_subject(run.subject, event.payload)
            self._aim_again(run)
        if event.type in self._notices:
            self._not_replayed("on_update")
        if event.type in self._awaited:
            run.heard.append(event)
            for member in list(run.members.values()):
                step = self.journey.step(member.step_id) if member.step_id is not None else None
                if (
                    member.waiting == "wait_for"
                    and isinstance(step, WaitForStep)
                    and self._counts(member, step, event)
                ):
                    member.waiting, member.timer = None, -1
                    self._after_wait_for(member, step, "event")
        self._close_run_if_done(run)

    def _aim_again(self, run: _Run) -> None:
        """An `updates` event moved the subject: the members' waits end where it now says."""
        for member in list(run.members.values()):
            step = self.journey.step(member.step_id) if member.step_id is not None else None
            if member.waiting != "wait" or not isinstance(step, WaitStep) or member.started is None:
                continue
            try:
                deadline = cohort_wait_end(step.wait, member.started, run.subject, self._journey_namespace)
            except ExpressionError:
                deadline = self.now
            if deadline <= self.now:
                member.waiting, member.timer = None, -1
                self._done(member, step, "waited")
                self._go(member, self.journey.successors.get(step.id))
            else:
                self._wait(member, "wait", deadline)

    # --- steps --------------------------------------------------------------------------------------
    def _go(self, member: _Member, step_id: str | None) -> None:
        """Run the member's steps from `step_id` until one waits or the steps end."""
        while step_id is not None:
            member.step_id = step_id
            step = self.journey.step(step_id)
            self.report.steps[step_id].reach(member.customer_id)
            following = self.journey.successors.get(step_id)
            if isinstance(step, SendStep):
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

    def _instant(self, member: _Member, step: AnyStep, following: str | None) -> str | None:
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

    def _send(self, member: _Member, step: SendStep) -> bool:
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
        self._done(member, step, f"sent:{judged.channel}")
        return False

    def _counts(self, member: _Member, step: WaitForStep, event: EventRef) -> bool:
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

    def _outcome_of_wait_for(self, member: _Member, step: WaitForStep, outcome: str) -> str | None:
        self._done(member, step, outcome)
        spec = step.wait_for
        chosen = spec.on_event if outcome == "event" else spec.on_timeout
        return self.journey.successors.get(step.id) if chosen is None else target(chosen)

    def _after_wait_for(self, member: _Member, step: WaitForStep, outcome: str) -> None:
        self._go(member, self._outcome_of_wait_for(member, step, outcome))

    def _done(self, member: _Member, step: AnyStep, outcome: str) -> None:
        member.visits[step.id] = member.visits.get(step.id, 0) + 1
        if not isinstance(step, SendStep):
            self.report.steps[step.id].outcomes[outcome] += 1

    # --- time -------------------------------------------------------------------------------------
    def _wait(self, member: _Member, kind: Waiting, deadline: datetime) -> None:
        member.waiting = kind
        member.timer = next(self._sequence)
        heapq.heappush(self._timers, (deadline, member.timer, member.timer, member))

    def _run_timers(self, before: datetime) -> None:
        """The members' timers and the schedule's fires before `before`, in time order."""
        while True:
            fire = self._fires[self._fired] if self._fired < len(self._fires) else None
            timer = self._timers[0][0] if self._timers else None
            if fire is not None and fire < before and (timer is None or fire <= timer):
                self._fired += 1
                self.now = max(self.now, fire)
                self._fire(fire)
                continue
            if timer is None or timer >= before:
                return
            deadline, _, number, member = heapq.heappop(self._timers)
            if not member.open or number != member.timer:
                continue
            self.now = max(self.now, deadline)
            self._wake(member)
            self._close_run_if_done(member.run)

    def _wake(self, member: _Member) -> None:
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

    def _customer(self, member: _Member) -> dict[str, Any]:
        state = self.customers.get(member.customer_id)
        return state.record.namespace() if state is not None else {}

    def _close(self, member: _Member, reason: str) -> None:
        member.open, member.waiting = False, None
        self.report.exits[reason] += 1

    def _close_run_if_done(self, run: _Run) -> None:
        if run.open and not any(member.open for member in run.members.values()):
            run.open = False

    def _not_replayed(self, what: str) -> None:
        if NOT_REPLAYED[what] not in self.report.not_replayed:
            self.report.not_replayed.append(NOT_REPLAYED[what])


def schedule_fires(spec: ScheduleSpec, default_zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's fire times in [start, end), in UTC, to the minute (dsl/schedule.py fire_times)."""
    fires: list[datetime] = []
    after = start - timedelta(minutes=1)
    while True:
        found = fire_times(spec, default_zone, after, FIRES_AT_ONCE)
        fires += [fire.astimezone(UTC) for fire in found if start <= fire < end]
        if len(found) < FIRES_AT_ONCE or found[-1] >= end:
            return fires
        after = found[-1]
