"""The compiler's checks of the event types a journey names (trigger, exit_on, goal, wait_for): each
is declared and reaches journeys (the router hands the engine's own records to none); and purpose
governance: `purpose: safety` skips consent (activities/eligibility.py), so such a journey must be
triggered by a safety event (its templates are template_checks.py's)."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Iterator, Sequence

from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.schema import JourneyDefinition, WaitForStep
from gridjourney.dsl.template_checks import SAFETY_HINT
from gridjourney.events.types import known_event_types

# Close enough to be a typo of a known type; a farther name is a new type to declare (bill.past_due
# is not a misspelt bill.issued).
EVENT_TYPE_CUTOFF = 0.75
DECLARE_HINT = "declare a new event type in events/*.yaml (see gridjourney/events/declared.py)"
NOT_ROUTED_HINT = (
    "journey.*, message.*, suppression.* and push.* events are the engine's own records: the router "
    "never hands them to journeys (a journey reacting to its own bookkeeping could loop). To follow "
    "another journey, trigger on the event that journey reacts to, or add a step to it"
)


def check_event_types(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    from gridjourney.router.router import is_routed  # the router's rule; imported late (cycle)

    known = known_event_types()
    refs: list[tuple[DataPath, str]] = [
        (("trigger", i, "event"), t.event) for i, t in enumerate(definition.trigger) if t.schedule is None
    ]
    refs += [(_exit_path(definition, i), event) for i, event in enumerate(definition.exit_event_types)]
    if definition.goal is not None:
        refs.append((("goal", "event"), definition.goal.event))
    refs += [
        (("steps", i, "wait_for", "event"), step.wait_for.event)
        for i, step in enumerate(definition.steps)
        if isinstance(step, WaitForStep)
    ]
    for path, event_type in refs:
        if event_type not in known:
            yield positions.error(
                path, f"unknown event type `{event_type}`", _unknown_type_hint(event_type, known)
            )
        elif not is_routed(event_type):
            yield positions.error(path, f"`{event_type}` never reaches a journey", NOT_ROUTED_HINT)


def _exit_path(definition: JourneyDefinition, i: int) -> DataPath:
    """Where exit_on item `i` names its event type: the item, or its `event` key."""
    return ("exit_on", i) if isinstance(definition.exit_on[i], str) else ("exit_on", i, "event")


def _unknown_type_hint(event_type: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(event_type, sorted(known), n=1, cutoff=EVENT_TYPE_CUTOFF)
    if close:
        return f"did you mean `{close[0]}`? or {DECLARE_HINT}"
    return DECLARE_HINT


def is_safety_event(event_type: str, safety_event_types: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in safety_event_types)


def check_safety_triggers(
    definition: JourneyDefinition, positions: Positions, safety_event_types: Sequence[str]
) -> Iterator[JourneyError]:
    if definition.purpose != "safety":
        return
    allowed = ", ".join(safety_event_types) or "none configured"
    for i, trigger in enumerate(definition.trigger):
        if not is_safety_event(trigger.event, safety_event_types):
            yield positions.error(
                ("trigger", i, "event"),
                f"purpose `safety` needs a safety trigger; `{trigger.event}` is not a safety event "
                f"type (safety event types: {allowed})",
                SAFETY_HINT,
            )
