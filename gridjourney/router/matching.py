"""Which journeys an event starts, and which running journeys want to hear about it. Pure functions
(but for one warning: a trigger condition past the evaluator's bounds, said once).

Trigger conditions may use the date and history functions (dsl/functions.py): the router gives them
facts in which `now()` is the event's own time (activities/context.py trigger_facts loads them, only
when a trigger condition of a journey the event may start asks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gridjourney.dsl.expressions import ExpressionTooCostly, evaluate
from gridjourney.dsl.functions import FACTS, SIGNATURES, Facts, HistoryUse, uses_functions, wanted_by
from gridjourney.dsl.schema import CompiledJourney, WaitForStep
from gridjourney.workflows.contracts import EventRef

log = logging.getLogger(__name__)


def triggered_journeys(
    event: EventRef,
    journeys: Iterable[CompiledJourney],
    customer: dict[str, Any] | None,
    facts: Facts | None = None,
) -> list[CompiledJourney]:
    """Per-customer journeys whose trigger matches: the event type is listed and its `when` holds.

    A `when` that cannot be evaluated (a field the event lacks, a function without `facts`) counts
    as false, as in branches.
    """
    if event.customer_id is None:
        return []
    namespace: dict[str, Any] = {"event": event.namespace(), "customer": customer or {}, "journey": {}}
    if facts is not None:
        namespace[FACTS] = facts
    matched = []
    for journey in journeys:
        if journey.definition.mode == "cohort":  # one run per event: router/cohorts.py
            continue
        for trigger in journey.definition.trigger:
            if trigger.event != event.type:
                continue
            namespace["journey"] = {"id": journey.journey_id, "version": journey.version}
            if trigger.when is None or holds(trigger.when, namespace):
                matched.append(journey)
                break
    return matched


def trigger_conditions(event_type: str, journeys: Iterable[CompiledJourney]) -> list[str]:
    """The `when` of every per-customer trigger an event of `event_type` is matched against."""
    return [
        trigger.when
        for journey in journeys
        if journey.definition.mode != "cohort"
        for trigger in journey.definition.trigger
        if trigger.event == event_type and trigger.when is not None
    ]


def trigger_wants(
    event_type: str, journeys: Iterable[CompiledJourney]
) -> tuple[list[HistoryUse], list[str]] | None:
    """What the trigger conditions an event of `event_type` is matched against read through had() and
    in_journey(); None when none of them uses a date or history function (no facts to load)."""
    using = [when for when in trigger_conditions(event_type, journeys) if uses_functions(when, SIGNATURES)]
    return wanted_by(using) if using else None


def listened_event_types(journey: CompiledJourney) -> set[str]:
    """Event types a running instance of this journey reacts to: wait_for, goal and exit_on.
    Cohort journeys have no per-customer instances (router/cohorts.py signals their runs)."""
    if journey.definition.mode == "cohort":
        return set()
    types = set(journey.definition.exit_event_types)
    if journey.definition.goal is not None:
        types.add(journey.definition.goal.event)
    types.update(step.wait_for.event for step in journey.definition.steps if isinstance(step, WaitForStep))
    return types


def holds(expression: str, namespace: dict[str, Any]) -> bool:
    try:
        return bool(evaluate(expression, namespace))
    except ExpressionTooCostly as error:  # false too, but an operator must hear of it: it never matches
        if expression not in _said_too_costly:
            _said_too_costly.add(expression)
            log.warning("a trigger condition went past the evaluator's bounds and counts as false: %s", error)
        return False
    except Exception:  # a failing condition is false: the event does not match
        return False


# Each such condition is said once per process: it fails the same way for every event.
_said_too_costly: set[str] = set()
