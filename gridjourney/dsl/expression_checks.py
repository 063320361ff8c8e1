"""What `event`, `customer`, `trigger` and `journey` hold in a journey's expressions (the step's
scope serves its templates too), and the compiler's check of every expression against them."""

from __future__ import annotations

from collections.abc import Iterator

from gridjourney.dsl.expression_bounds import BOUNDS_HINT, TOO_COMPLEX, shown
from gridjourney.dsl.expressions import (
    ALL_FUNCTIONS,
    EVENT_ENVELOPE,
    JOURNEY_FIELDS,
    Scope,
    check_condition,
    check_expression,
    event_fields,
)
from gridjourney.dsl.field_shapes import ANY, Shape
from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.pointing import pointed_error
from gridjourney.dsl.schedule import SCHEDULE_EVENT_FIELDS
from gridjourney.dsl.schema import (
    BranchStep,
    ExitOnSpec,
    JourneyDefinition,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.dsl.template_checks import CUSTOMER_HINT
from gridjourney.dsl.vocabulary import customer_shape, event_shape

Fields = frozenset[str] | None

EVENT_FIELDS_HINT = (
    "an event has its type's payload fields (POST /v1/events in the API's OpenAPI document lists them; "
    "types of your own declare theirs in events/*.yaml), `type` and `occurred_at`"
)


def trigger_fields(definition: JourneyDefinition) -> Fields:
    """Keys `event` has in steps and templates: those of every trigger's payload (any may start it)."""
    fields: frozenset[str] | None = None
    for trigger in definition.trigger:
        known = SCHEDULE_EVENT_FIELDS if trigger.schedule is not None else event_fields(trigger.event)
        if known is None:
            return None  # reported as an unknown event type; do not pile up follow-on errors
        fields = known if fields is None else fields & known
    return fields if fields is not None else EVENT_ENVELOPE


def journey_customer_shape(definition: JourneyDefinition) -> Shape | None:
    """What `customer` has in this journey: the declared attributes, and those its `update` steps set."""
    declared = customer_shape()
    if declared is None or declared.keys is None:
        return declared
    updated = {step.update.attribute: ANY for step in definition.steps if isinstance(step, UpdateStep)}
    return Shape(keys={**updated, **declared.keys}, keys_are=declared.keys_are)


def steps_event_scope(definition: JourneyDefinition, customer: Shape | None) -> Scope:
    """What `event` has in steps: one trigger's shape, nested fields included; of several triggers,
    the keys they all have."""
    if definition.schedule is not None:
        return SCHEDULE_EVENT_FIELDS
    if len(definition.trigger) == 1:
        return event_shape(definition.trigger[0].event, customer)
    return trigger_fields(definition)


def check_expressions(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    customer = journey_customer_shape(definition)
    in_steps: dict[str, Scope] = {
        "event": steps_event_scope(definition, customer),
        "customer": customer,
        "journey": JOURNEY_FIELDS,
    }
    checks: list[tuple[DataPath, str, dict[str, Scope]]] = []
    for i, trigger in enumerate(definition.trigger):
        if trigger.when is not None:
            scope: dict[str, Scope] = {
                "event": event_shape(trigger.event, customer),
                "customer": customer,
                "journey": JOURNEY_FIELDS,
            }
            checks.append((("trigger", i, "when"), trigger.when, scope))
    if definition.goal is not None and definition.goal.when is not None:
        checks.append(
            (("goal", "when"), definition.goal.when, _awaited_scope(definition.goal.event, in_steps))
        )
    for i, item in enumerate(definition.exit_on):
        if isinstance(item, ExitOnSpec):
            checks.append((("exit_on", i, "when"), item.when, _awaited_scope(item.event, in_steps)))
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitForStep) and step.wait_for.when is not None:
            scope = _awaited_scope(step.wait_for.event, in_steps)
            checks.append((("steps", i, "wait_for", "when"), step.wait_for.when, scope))
        if isinstance(step, BranchStep):
            checks += [
                (("steps", i, "branch", j, "when"), case.when, in_steps)
                for j, case in enumerate(step.branch)
                if case.when is not None
            ]
        if isinstance(step, UpdateStep) and step.update.expression is not None:
            checks.append((("steps", i, "update", "expression"), step.update.expression, in_steps))
        if isinstance(step, WaitStep) and step.wait.until is not None:
            checks.append((("steps", i, "wait", "until"), step.wait.until, in_steps))
        if isinstance(step, WaitStep) and step.wait.after is not None:
            checks.append((("steps", i, "wait", "after"), step.wait.after, in_steps))
    for path, expr, scope in checks:
        check = check_condition if path[-1] == "when" else check_expression
        for problem in check(expr, scope):
            message = f"expression {shown(expr)}: {problem}"
            yield pointed_error(positions, path, expr, message, _expression_hint(scope, problem))


def _awaited_scope(event_type: str, in_steps: dict[str, Scope]) -> dict[str, Scope]:
    """In `wait_for` and `goal` conditions `event` is the awaited event and `trigger` the one that started."""
    customer = in_steps["customer"]
    return {
        "event": event_shape(event_type, customer if isinstance(customer, Shape) else None),
        "trigger": in_steps["event"],
        "customer": customer,
        "journey": JOURNEY_FIELDS,
    }


def _expression_hint(scope: dict[str, Scope], problem: str) -> str:
    if problem.startswith("`customer"):
        return CUSTOMER_HINT
    if problem.startswith(("`event", "`trigger")):
        return EVENT_FIELDS_HINT
    if problem.startswith(TOO_COMPLEX):
        return BOUNDS_HINT
    names = ", ".join(scope)
    return f"expressions use {names} and the functions {', '.join(ALL_FUNCTIONS)}"
