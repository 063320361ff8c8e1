"""The backtest's replay: a period of the event log run through one per-customer journey, in memory,
in the order the events occurred, with simulated time. Nothing is sent and no workflow starts.

Every decision is the engine's own function: which events start the journey
(router/matching.py `triggered_journeys`), the instance id and the re-entry rule (entry/plan.py), the
holdout and split groups (workflows/assignment.py), branches, waits, `wait_for` matches, goals
(workflows/decisions.py), and each message's eligibility (activities/eligibility.py `judge`, over
facts folded from the log in backtest/customers.py). What the replay does in place of I/O:

- the customer (and the history had() reads) is read from the fold as the projections would have
  held them at that moment: every event that occurred before, and those appended with the event
  being handled at the same moment even when the log orders them after it (the router waits for
  the projections to fold its whole batch: a customer.created posted with its consent.changed is
  welcomed with that consent);
- a send judged eligible counts as sent at that moment (and against the caps of later ones);
  deferred by quiet hours, it is judged again at the moment `judge` named, as the workflow does;
- a `score` step does not score (no models run in a backtest): branches read the scores the log set;
- the date functions read the simulated time (`now()` is the event's time at a trigger), had() and
  in_journey() the history folded from the log (backtest/history.py); in_journey() sees other
  journeys' runs as the log recorded them, and this journey's own as the replay runs them;
- an `update` step changes the customer in the fold, as its customer.updated event would;
- the replay is one state machine, like the workflow it mirrors (workflows/journey.py); what it
  shares with the cohort replay (sends, timers, waking) is in backtest/steps.py, and messages are
  judged in backtest/messages.py;
- runs still waiting when the log's period ends go on in simulated time (with no more events) until
  they finish or `horizon` has passed, so a run's later messages are counted too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from gridjourney.backtest.customers import STATE_EVENT_TYPES
from gridjourney.backtest.history import History
from gridjourney.backtest.report import EXAMPLES, BacktestReport
from gridjourney.backtest.steps import ALL_CHANNELS, HORIZON, ReplaySteps, Waiting
from gridjourney.content.render import Templates
from gridjourney.dsl.expressions import evaluate
from gridjourney.dsl.functions import Facts
from gridjourney.dsl.schema import (
    AnyStep,
    BranchStep,
    Channel,
    CompiledJourney,
    ScoreStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.entry.plan import entry_plan, kept_out_by_record, window_start
from gridjourney.events.models import StoredEvent
from gridjourney.policy.model import Policy
from gridjourney.policy.quiet_hours import zone_for
from gridjourney.router.matching import listened_event_types, triggered_journeys
from gridjourney.router.router import event_ref, is_routed
from gridjourney.workflows.assignment import in_holdout
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.decisions import (
    accepts,
    choose_branch,
    choose_split,
    event_namespace,
    exits,
    in_goal_window,
    step_namespace,
    target,
    wait_deadline,
    wanted_facts,
)

__all__ = ["ALL_CHANNELS", "HORIZON", "Replay"]


@dataclass
class _Run:
    """One journey instance in the replay (JourneyWorkflow's state, as far as counting needs it)."""

    instance_id: str  # the workflow id
    customer_id: str
    trigger: EventRef
    holdout: bool
    step_id: str | None = None
    waiting: Waiting | None = None
    timer: int = 0  # the live timer's number; a timer with another number was cancelled
    converted: bool = False
    held: list[EventRef] = field(default_factory=list)
    visits: dict[str, int] = field(default_factory=dict)
    open: bool = True


class Replay(ReplaySteps[_Run]):
    def __init__(
        self,
        journey: CompiledJourney,
        policy: Policy,
        start: datetime,
        end: datetime,
        *,
        templates_dir: Templates | None = None,
        channels: Collection[Channel] = ALL_CHANNELS,
        horizon: timedelta = HORIZON,
    ) -> None:
        if journey.definition.mode != "per_customer":
            raise ValueError("a backtest replays per-customer journeys; cohort journeys are not replayed")
        super().__init__(journey, policy, start, end, channels, templates_dir)
        self.start, self.end, self.horizon = start, end, horizon
        self._runs: dict[str, list[_Run]] = {}  # customer → open runs
        self._recorded: set[str] = set()  # the entry record: instance ids entered
        self._entered_at: dict[str, list[datetime]] = {}  # customer → their entries' trigger times
        self._listened = listened_event_types(journey)
        self._trigger_types = {t.event for t in journey.definition.trigger}
        history, journeys_asked = wanted_facts(journey.definition)
        self.history = History(history, journeys_asked, journey.journey_id)
        self._awaited = {s.wait_for.event for s in journey.definition.steps if isinstance(s, WaitForStep)}

    # --- the log ----------------------------------------------------------------------------------
    def feed(self, event: StoredEvent) -> None:
        """The next event of the log, in (occurred_at, position) order."""
        self._run_timers(before=event.occurred_at)
        self.now = max(self.now, event.occurred_at)
        if event.type in STATE_EVENT_TYPES:
            self.customers.apply(event)
        if not self.customers.folded_early(event) and event.position not in self.not_applied:
            self.history.apply(event)
        if event.position in self.not_applied:
            return  # a consent change that did not apply: the router routed it nowhere
        if not self.start <= event.occurred_at < self.end:
            return
        customer_id = event.customer_id
        if customer_id is None or not is_routed(event.type):
            return
        if event.type not in self._trigger_types and event.type not in self._listened:
            return
        for early in self.customers.fold_append(event, customer_id):  # its append, at this moment
            if early.position not in self.not_applied:
                self.history.apply(early)
        ref = event_ref(event)
        # the router's order (router/router.py `_route`): start what the event triggers, then signal
        if event.type in self._trigger_types:
            state = self.customers.get(customer_id)
            customer = state.record.namespace() if state is not None else None
            facts = self._facts(customer_id, customer, ref.event_id)
            if triggered_journeys(ref, [self.journey], customer, facts):
                self.report.triggers_matched += 1
                self._enter(ref, customer_id)
        if event.type in self._listened:
            for run in list(self._runs.get(customer_id, [])):
                if run.trigger.event_id != ref.event_id:  # a run has seen its own trigger
                    self._signal(run, ref)

    def finish(self) -> BacktestReport:
        self._run_timers(before=self.end + self.horizon)
        self.report.still_active = sum(len(runs) for runs in self._runs.values())
        return self.report

    # --- entering -----------------------------------------------------------------------------------
    def _enter(self, trigger: EventRef, customer_id: str) -> None:
        entry = self.journey.definition.entry
        workflow_id = entry_plan(self.journey, customer_id, trigger).workflow_id
        recorded = workflow_id in self._recorded
        in_window = (
            not recorded
            and entry.reentry == "once_per_window"
            and any(at > window_start(entry, trigger) for at in self._entered_at.get(customer_id, []))
        )
        if kept_out_by_record(entry, recorded=recorded, entered_in_window=in_window):
            self.report.blocked_by_reentry[entry.reentry] += 1
            return
        if any(run.instance_id == workflow_id for run in self._runs.get(customer_id, [])):
            # Temporal's conflict policy: a run still open under the id refuses the start
            self.report.blocked_by_reentry[f"{entry.reentry} (still in the journey)"] += 1
            return
        self._recorded.add(workflow_id)
        self._entered_at.setdefault(customer_id, []).append(trigger.occurred_at)
        run = _Run(
            workflow_id, customer_id, trigger, in_holdout(self.journey.journey_id, customer_id, entry.holdout)
        )
        self.report.entered += 1
        self.report.holdout += run.holdout
        if len(self.report.entry_examples) < EXAMPLES and customer_id not in self.report.entry_examples:
            self.report.entry_examples.append(customer_id)
        self._runs.setdefault(customer_id, []).append(run)
        if self.customers.get(customer_id) is None:
            self._close(run, "unknown_customer")
            return
        self._go(run, self.journey.first_step)

    # --- steps --------------------------------------------------------------------------------------
    def _go(self, run: _Run, step_id: str | None) -> None:
        """Run steps from `step_id` until one waits or the steps end."""
        while step_id is not None:
            run.step_id = step_id
            step = self.journey.step(step_id)
            self.report.steps[step_id].reach(run.customer_id)
            following = self.journey.successors.get(step_id)
            if isinstance(step, SendStep):
                if self._send(run, step):
                    return
                step_id = following
            elif isinstance(step, WaitStep):
                try:
                    deadline = wait_deadline(step.wait, self.now, self._namespace(run))
                except Exception:  # as the workflow: `until` gave no time, go on
                    self._done(run, step, "skipped")
                    step_id = following
                    continue
                self._wait(run, "wait", deadline)
                return
            elif isinstance(step, WaitForStep):
                spec = step.wait_for
                held = next((e for e in run.held if self._accepts(run, e, spec.event, spec.when)), None)
                if held is None:
                    self._wait(run, "wait_for", self.now + spec.timeout)
                    return
                run.held.remove(held)
                step_id = self._after_wait_for(run, step, "event")
            else:
                step_id = self._instant(run, step, following)
        run.step_id = None
        self._after_steps(run)

    def _instant(self, run: _Run, step: AnyStep, following: str | None) -> str | None:
        """A step that takes no time: the step after it."""
        if isinstance(step, BranchStep):
            goto = choose_branch(step, self._namespace(run))
            self._done(run, step, goto or "no_case")
            return target(goto) if goto else following
        if isinstance(step, SplitStep):
            arm = choose_split(step, self.journey.journey_id, run.customer_id)
            self._done(run, step, arm.label or arm.goto)
            return target(arm.goto)
        if isinstance(step, ScoreStep):
            self._done(run, step, "not_scored")
            return following
        if isinstance(step, UpdateStep):
            value: Any = step.update.value
            if step.update.expression is not None:
                try:
                    value = evaluate(step.update.expression, self._namespace(run))
                except Exception:  # as the workflow: keep the attribute as it was
                    self._done(run, step, "skipped")
                    return following
            self.customers.set_attribute(run.customer_id, step.update.attribute, value)
            self._done(run, step, "updated")
            return following
        return None  # end (and dr_performance, which only cohort journeys have)

    def _after_steps(self, run: _Run) -> None:
        goal = self.journey.definition.goal
        if goal is None or run.converted:
            self._close(run, "completed")
            return
        self._wait(run, "goal", run.trigger.occurred_at + goal.within)

    # --- waiting and events -------------------------------------------------------------------------
    def _run_timers(self, before: datetime) -> None:
        while self._next_timer(before) is not None:
            self._run_timer()

    def _wake(self, run: _Run) -> None:
        if run.waiting == "goal":
            run.waiting = None
            self._close(run, "completed")
            return
        super()._wake(run)

    def _signal(self, run: _Run, event: EventRef) -> None:
        """An event the run listens to (JourneyWorkflow `_drain`): goal, then exit, then the wait."""
        definition = self.journey.definition
        goal = definition.goal
        if (
            goal is not None
            and not run.converted
            and in_goal_window(self.journey, run.trigger, run.trigger.occurred_at, event)
            and self._accepts(run, event, goal.event, goal.when)
        ):
            run.converted = True
            self.report.converted += 1
        namespace = partial(
            event_namespace, self.journey, run.trigger, self._customer(run), event, self._run_facts(run)
        )
        if exits(definition, event, namespace):
            self._close(run, event.type)
            return
        step = self.journey.step(run.step_id) if run.step_id is not None else None
        if (
            run.waiting == "wait_for"
            and isinstance(step, WaitForStep)
            and self._accepts(run, event, step.wait_for.event, step.wait_for.when)
        ):
            run.waiting, run.timer = None, -1
            self._go(run, self._after_wait_for(run, step, "event"))
            return
        if run.waiting == "goal" and run.converted:
            self._close(run, "completed")
            return
        if event.type in self._awaited:
            run.held.append(event)

    def _accepts(self, run: _Run, event: EventRef, event_type: str, when: str | None) -> bool:
        customer = self._customer(run)
        namespace = event_namespace(self.journey, run.trigger, customer, event, self._run_facts(run))
        return accepts(event, event_type, when, namespace)

    def _namespace(self, run: _Run) -> dict[str, Any]:
        return step_namespace(self.journey, run.trigger, self._customer(run), self._run_facts(run))

    def _run_facts(self, run: _Run) -> Facts:
        return self._facts(run.customer_id, self._customer(run), run.trigger.event_id)

    def _facts(self, customer_id: str, customer: dict[str, Any] | None, trigger_id: str) -> Facts:
        """What the date and history functions read now, as the engine gives them (its trigger never
        counts in had()); local_date()'s zone is the customer's, else the policy's."""
        zone = zone_for((customer or {}).get("time_zone"), self.policy.default_time_zone)
        in_own = bool(self._runs.get(customer_id))
        return self.history.facts(customer_id, self.now, zone, trigger_id, in_own_journey=in_own)

    def _close(self, run: _Run, reason: str) -> None:
        run.open, run.waiting = False, None
        self.report.exits["converted" if reason == "completed" and run.converted else reason] += 1
        runs = self._runs.get(run.customer_id, [])
        if run in runs:
            runs.remove(run)
