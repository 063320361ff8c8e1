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
- on_update notices: to the members waiting at their steps, by the notice's rules
  (backtest/cohort_notices.py);
- exit_on: the exit event's notice, then every member still in the run leaves with the event type as
  reason.
What is not replayed is listed in the report's `not_replayed` (see NOT_REPLAYED).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gridjourney.backtest.cohort_members import CohortRun, Member
from gridjourney.backtest.cohort_notices import CohortNotices
from gridjourney.backtest.customers import PROGRAM_EVENT_TYPES, STATE_EVENT_TYPES, CustomerState
from gridjourney.backtest.report import EXAMPLES, BacktestReport
from gridjourney.backtest.steps import ALL_CHANNELS, HORIZON
from gridjourney.cohorts.audience import (
    BadCohortInput,
    audience_grid,
    audience_holds,
    audience_program,
    held_out,
)
from gridjourney.content.render import Templates
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schedule import SCHEDULE_EVENT, ScheduleSpec, fire_times
from gridjourney.dsl.schema import Channel, CohortSpec, CompiledJourney, WaitForStep, WaitStep
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
    cohort_wait_end,
    newer_update,
    updated_subject,
)
from gridjourney.workflows.contracts import EventRef

COHORT_STATE_EVENT_TYPES = STATE_EVENT_TYPES | PROGRAM_EVENT_TYPES
RUN_OVER = "cohort run already over"  # a trigger of a finished run's key starts nothing (id taken)
FIRES_AT_ONCE = 1000  # fire times asked for at once
# Each fire is a run over its whole audience: a backtest over more than this many (an hourly
# schedule over 300 years: 2.6 million) would hold the API for hours. A year of a daily schedule fits.
MAX_FIRES = 2000


class CohortReplay(CohortNotices):
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
        super().__init__(journey, policy, start, end, channels, templates_dir)
        self.cohort: CohortSpec = journey.definition.cohort
        self.start, self.end, self.horizon = start, end, horizon
        self.canonical_incidents = canonical_incidents or {}
        self._runs: dict[str, CohortRun] = {}  # run id → the run (finished ones too: their ids stay taken)
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
        if event.position in self.not_applied:
            return  # a consent change that did not apply: the router routed it nowhere
        if not self.start <= event.occurred_at < self.end or not is_routed(event.type):
            return
        self.customers.fold_append(event)
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
        run = self._runs[run_id] = CohortRun(run_id, trigger.namespace())
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

    def _join(self, run: CohortRun, states: list[CustomerState]) -> None:
        """New members at the first step (those already members stay where they are)."""
        since = len(run.heard)
        joining = []
        for state in states:
            customer_id = state.record.customer_id
            if customer_id in run.members:
                continue
            record = state.record
            member = Member(
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
    def _heard(self, run: CohortRun, event: EventRef) -> None:
        if event.type in self._exits:
            self._notify_exit(run, event)
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
            self._notify(run, event)
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
                    self._go(member, self._after_wait_for(member, step, "event"))
        self._close_run_if_done(run)

    def _aim_again(self, run: CohortRun) -> None:
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

    def _run_timers(self, before: datetime) -> None:
        """The members' timers and the schedule's fires before `before`, in time order."""
        while True:
            fire = self._fires[self._fired] if self._fired < len(self._fires) else None
            timer = self._next_timer(before)
            if fire is not None and fire < before and (timer is None or fire <= timer):
                self._fired += 1
                self.now = max(self.now, fire)
                self._fire(fire)
            elif timer is not None:
                self._run_timer()
            else:
                return


def schedule_fires(spec: ScheduleSpec, default_zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's fire times in [start, end), in UTC, to the minute (dsl/schedule.py fire_times).
    ValueError: more than MAX_FIRES."""
    fires: list[datetime] = []
    after = start - timedelta(minutes=1)
    while True:
        found = fire_times(spec, default_zone, after, FIRES_AT_ONCE)
        fires += [fire.astimezone(UTC) for fire in found if start <= fire < end]
        if len(fires) > MAX_FIRES:
            last = fires[MAX_FIRES - 1].date().isoformat()  # the longest period that fits ends that day
            raise ValueError(
                f"the schedule fires more than {MAX_FIRES} times in the period, each a run over its "
                f"audience: backtest a shorter period (from {start.date().isoformat()}, to {last} at most)"
            )
        if len(found) < FIRES_AT_ONCE or found[-1] >= end:
            return fires
        after = found[-1]
