"""The journey language's decisions as pure functions: which branch, which split arm, until when
to wait, which event a wait accepts, whether a goal counts, and the ids a run writes under.

JourneyWorkflow does the Temporal part (timers, activities, signals); everything here depends only
on its arguments, so it is deterministic and testable without a server. The workflow imports this
module through `imports_passed_through()` (it uses zoneinfo, which the sandbox proxies).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from gridjourney.dsl.expression_paths import expression_paths
from gridjourney.dsl.expressions import evaluate, evaluate_datetime
from gridjourney.dsl.functions import FACTS, Facts, HistoryUse, wanted_by
from gridjourney.dsl.schema import (
    END,
    AnyStep,
    BranchStep,
    CompiledJourney,
    EndStep,
    JourneyDefinition,
    ScoreStep,
    SendStep,
    SplitArm,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitSpec,
    WaitStep,
)
from gridjourney.workflows.assignment import split_arm
from gridjourney.workflows.clock import next_local_time
from gridjourney.workflows.contracts import EventRef, HistoryQuery, LoadContextInput, ScoreOutcome

# uuid5 namespace of the ids of events a run records.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c3a52-93d4-4f0e-9b7a-2c51d8e0a4b7")

KINDS: dict[type[AnyStep], str] = {
    SendStep: "send",
    WaitStep: "wait",
    WaitForStep: "wait_for",
    BranchStep: "branch",
    SplitStep: "split",
    ScoreStep: "score",
    UpdateStep: "update",
    EndStep: "end",
}


def holds(expression: str | None, namespace: dict[str, Any]) -> bool:
    """A missing condition holds; a condition that cannot be evaluated is false (DSL rule)."""
    if expression is None:
        return True
    try:
        return bool(evaluate(expression, namespace))
    except Exception:  # ExpressionError, and anything else a bad value provokes
        return False


def target(goto: str) -> str | None:
    """A `goto`/`on_event`/`on_timeout` as the next step id (None: the journey ends)."""
    return None if goto == END else goto


def choose_branch(step: BranchStep, namespace: dict[str, Any]) -> str | None:
    """The `goto` of the first case that holds; None when none does."""
    return next((case.goto for case in step.branch if holds(case.when, namespace)), None)


def choose_split(step: SplitStep, journey_id: str, customer_id: str) -> SplitArm:
    return split_arm([(arm, arm.weight) for arm in step.split], journey_id, step.id, customer_id)


def wait_deadline(spec: WaitSpec, now: datetime, namespace: dict[str, Any]) -> datetime:
    """When a `wait` step ends. Raises ExpressionError when `until` gives no timestamp."""
    if spec.after is not None:  # `duration` after a time the event gives
        at = evaluate_datetime(spec.after, namespace) + (spec.duration or timedelta(0))
        return max(now, at)  # a time already past does not wait
    if spec.duration is not None:
        return now + spec.duration
    if spec.until_local_time is not None:
        return next_local_time(now, spec.until_local_time, namespace["customer"]["time_zone"])
    assert spec.until is not None  # the schema requires exactly one of the four
    at = evaluate_datetime(spec.until, namespace) - (spec.before or timedelta(0))
    return max(now, at)  # a time already past does not wait


def accepts(event: EventRef, event_type: str, when: str | None, namespace: dict[str, Any]) -> bool:
    """Whether a wait_for (or goal) takes this event; `namespace` is from event_namespace()."""
    return event.type == event_type and holds(when, namespace)


def exits(definition: JourneyDefinition, event: EventRef, namespace: Callable[[], dict[str, Any]]) -> bool:
    """Whether `event` ends the run: its type is in `exit_on`, alone or with a condition that holds
    (`namespace` gives event_namespace()'s, built only when a condition needs it)."""
    plain, conditions = definition.exit_condition(event.type)
    if plain:
        return True
    if not conditions:
        return False
    values = namespace()
    return any(holds(condition, values) for condition in conditions)


def in_goal_window(
    journey: CompiledJourney, trigger: EventRef, entered_at: datetime, event: EventRef
) -> bool:
    """A goal counts when it happened after the trigger and within `goal.within` of entry."""
    goal = journey.definition.goal
    return goal is not None and trigger.occurred_at <= event.occurred_at <= entered_at + goal.within


def with_scores(customer: dict[str, Any], refreshed: Iterable[ScoreOutcome]) -> dict[str, Any]:
    """`scores` and `scores_updated_at` of `customer` with the scores a run refreshed laid over the
    ones loaded, where those are older (the customers projection may not have applied them yet)."""
    scores = dict(customer.get("scores") or {})
    updated = dict(customer.get("scores_updated_at") or {})
    for outcome in refreshed:
        if outcome.value is None or outcome.updated_at is None:
            continue
        try:
            loaded_at: datetime | None = datetime.fromisoformat(str(updated.get(outcome.score)))
        except ValueError:
            loaded_at = None
        if loaded_at is None or loaded_at.tzinfo is None or loaded_at < outcome.updated_at:
            scores[outcome.score] = outcome.value
            updated[outcome.score] = outcome.updated_at.isoformat()
    return {"scores": scores, "scores_updated_at": updated}


def journey_namespace(journey: CompiledJourney) -> dict[str, Any]:
    return {"id": journey.journey_id, "version": journey.version}


def step_namespace(
    journey: CompiledJourney, trigger: EventRef, customer: dict[str, Any], facts: Facts | None = None
) -> dict[str, Any]:
    """For branches, updates and waits: `event` is the trigger. `facts`: what the date and history
    functions read (dsl/functions.py); without them those functions fail (a condition is false)."""
    namespace: dict[str, Any] = {
        "event": trigger.namespace(),
        "customer": customer,
        "journey": journey_namespace(journey),
    }
    if facts is not None:
        namespace[FACTS] = facts
    return namespace


def event_namespace(
    journey: CompiledJourney,
    trigger: EventRef,
    customer: dict[str, Any],
    event: EventRef,
    facts: Facts | None = None,
) -> dict[str, Any]:
    """For wait_for and goal conditions: `event` is the awaited event, `trigger` the trigger."""
    return {
        **step_namespace(journey, trigger, customer, facts),
        "event": event.namespace(),
        "trigger": trigger.namespace(),
    }


def wanted_facts(definition: JourneyDefinition) -> tuple[list[HistoryUse], list[str]]:
    """What the customer-context loader must read for this journey's had() and in_journey() calls."""
    return wanted_by(expr for _path, expr in expression_paths(definition))


def instance_key(workflow_id: str, trigger: EventRef) -> str:
    """Stable across continue-as-new (unlike the run id), and distinct between instances that reuse
    one workflow id (`after_exit` re-entry) because each has its own trigger."""
    return f"{workflow_id}:{trigger.event_id}"


def recorded_event_id(instance: str, sequence: int) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{instance}:{sequence}"))


def idempotency_key(instance: str, step_id: str, customer_id: str, visit: int) -> str:
    """One send per (instance, step, customer); a step visited again in a loop sends again."""
    key = f"{instance}:{step_id}:{customer_id}"
    return key if visit <= 1 else f"{key}:{visit}"


def context_request(
    wanted: tuple[list[HistoryUse], list[str]], customer_id: str, trigger: EventRef, now: datetime
) -> LoadContextInput:
    """LOAD_CONTEXT's input: the customer, and what `wanted` (wanted_facts) asks of their history."""
    history, journeys = wanted
    if not history and not journeys:
        return LoadContextInput(customer_id=customer_id)
    return LoadContextInput(
        customer_id=customer_id,
        history=[HistoryQuery(event_type=u.event_type, within=u.within, where=u.where) for u in history],
        journeys=journeys,
        as_of=now,
        exclude_event_id=trigger.event_id,
    )
