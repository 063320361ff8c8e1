"""What the two replays share: the per-customer one (backtest/replay.py) moves a journey run through the
steps, the cohort one (backtest/cohort_members.py) each member of a cohort run. Both judge a send the
same way, keep their timers in one heap (a timer whose number is no longer the walker's was
cancelled), wake a walker the same way when its timer ends, and report each step's outcome alike."""

from __future__ import annotations

import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

from gridjourney.backtest.customers import Customers
from gridjourney.backtest.messages import Judgement, MessageJudge
from gridjourney.backtest.report import BacktestReport, StepReport
from gridjourney.content.render import Templates
from gridjourney.dsl.schema import AnyStep, Channel, CompiledJourney, SendStep, WaitForStep
from gridjourney.policy.model import Policy
from gridjourney.workflows.decisions import KINDS, target

ALL_CHANNELS: tuple[Channel, ...] = ("sms", "email", "push")
HORIZON = timedelta(days=366)
Waiting = Literal["wait", "wait_for", "send", "goal"]  # "goal": a per-customer run after its steps


class Walker(Protocol):
    """A per-customer journey run or a cohort member: who goes through the steps."""

    customer_id: str
    holdout: bool
    step_id: str | None
    waiting: Waiting | None
    timer: int  # the live timer's number
    visits: dict[str, int]
    open: bool

    @property
    def instance_id(self) -> str:
        """The workflow the message belongs to (its idempotency key's first part)."""


W = TypeVar("W", bound=Walker)


class ReplaySteps(ABC, Generic[W]):
    """Each replay says how a walker goes on (`_go`); the rest is here."""

    def __init__(
        self,
        journey: CompiledJourney,
        policy: Policy,
        start: datetime,
        end: datetime,
        channels: Collection[Channel],
        templates_dir: Templates | None,
    ) -> None:
        self.journey, self.policy = journey, policy
        self.customers = Customers()
        self.messages = MessageJudge(journey, policy, self.customers, channels, templates_dir)
        self.report = BacktestReport(journey.journey_id, start, end)
        for step in journey.definition.steps:
            self.report.steps.setdefault(
                step.id, StepReport(step.id, KINDS.get(type(step), "dr_performance"))
            )
        self.now = start
        self._timers: list[tuple[datetime, int, int, W]] = []
        self._sequence = itertools.count()

    @property
    def not_applied(self) -> Collection[int]:
        """Positions of the log's consent changes that did not apply on arrival (projections/
        consents.py `not_applied_in_log`): the fold skips them and the replay routes them nowhere,
        as the router does not route them."""
        return self.customers.not_applied

    @not_applied.setter
    def not_applied(self, positions: Collection[int]) -> None:
        self.customers.not_applied = positions

    def seed_send(self, customer_id: str, at: datetime, purpose: str, channel: str) -> None:
        """A message of another journey (the send ledger): it counts against the caps."""
        self.customers.record_send(customer_id, at, purpose, channel)

    @abstractmethod
    def _go(self, walker: W, step_id: str | None) -> None:
        """Walk the walker from `step_id` (None: its end) until it waits or ends."""

    def _sent(self, walker: W) -> None:
        """A message of the walker's steps went out (the cohort replay remembers who was told)."""

    # --- sending ------------------------------------------------------------------------------------
    def _send(self, walker: W, step: SendStep) -> bool:
        """Judge the message now; True when quiet hours deferred it (the walker waits)."""
        stats = self.report.steps[step.id]
        if walker.holdout:
            stats.held_out += 1
            self._done(walker, step, "holdout")
            return False
        judged = self.messages.judge(walker.instance_id, walker.customer_id, step, self.now)
        if judged.deferred_until is not None:
            stats.deferred += 1
            self._wait(walker, "send", judged.deferred_until)
            return True
        if not self._count(stats, judged, step.send.template, walker.customer_id):
            self._done(walker, step, "suppressed")
            return False
        self._sent(walker)
        self._done(walker, step, f"sent:{judged.channel}")
        return False

    def _count(self, stats: StepReport, judged: Judgement, template: str, customer_id: str) -> bool:
        """A judged message in the step's report, and if it goes out, against the customer's caps;
        whether it goes out."""
        if judged.channel is None or judged.locale is None:
            stats.refused += 1
            stats.suppressed.update(judged.refusals)
            return False
        stats.messages[(judged.channel, template, judged.locale)] += 1
        self.customers.record_send(customer_id, self.now, self.journey.definition.purpose, judged.channel)
        return True

    # --- outcomes -----------------------------------------------------------------------------------
    def _done(self, walker: W, step: AnyStep, outcome: str) -> None:
        walker.visits[step.id] = walker.visits.get(step.id, 0) + 1
        if not isinstance(step, SendStep):
            self.report.steps[step.id].outcomes[outcome] += 1

    def _after_wait_for(self, walker: W, step: WaitForStep, outcome: str) -> str | None:
        """The wait_for step ended by "event" or "timeout": the step after it."""
        self._done(walker, step, outcome)
        spec = step.wait_for
        chosen = spec.on_event if outcome == "event" else spec.on_timeout
        return self.journey.successors.get(step.id) if chosen is None else target(chosen)

    # --- time ---------------------------------------------------------------------------------------
    def _wait(self, walker: W, kind: Waiting, deadline: datetime) -> None:
        walker.waiting = kind
        walker.timer = next(self._sequence)
        heapq.heappush(self._timers, (deadline, walker.timer, walker.timer, walker))

    def _next_timer(self, before: datetime) -> datetime | None:
        """When the next live timer before `before` ends (None: none does)."""
        while self._timers and self._timers[0][0] < before:
            _, _, number, walker = self._timers[0]
            if walker.open and number == walker.timer:
                return self._timers[0][0]
            heapq.heappop(self._timers)
        return None

    def _run_timer(self) -> W:
        """The next timer (`_next_timer` found it live); the walker it woke."""
        deadline, _, _, walker = heapq.heappop(self._timers)
        self.now = max(self.now, deadline)
        self._wake(walker)
        return walker

    def _wake(self, walker: W) -> None:
        """The walker's timer ended: a deferred send is judged again, a wait_for timed out, a wait is over."""
        kind, walker.waiting = walker.waiting, None
        assert walker.step_id is not None
        step = self.journey.step(walker.step_id)
        following = self.journey.successors.get(step.id)
        if kind == "send" and isinstance(step, SendStep):
            if self._send(walker, step):
                return
        elif kind == "wait_for" and isinstance(step, WaitForStep):
            following = self._after_wait_for(walker, step, "timeout")
        else:
            self._done(walker, step, "waited")
        self._go(walker, following)

    def _customer(self, walker: W) -> dict[str, Any]:
        state = self.customers.get(walker.customer_id)
        return state.record.namespace() if state is not None else {}
