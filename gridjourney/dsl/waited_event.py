"""`waited_event`: the event that ended a `wait_for`, for the messages after it.

A run keeps the last event a `wait_for` step accepted (a booking, a consent) and its messages read
it as `{{ waited_event.<field> }}`: the confirmation quotes the booking that arrived. A template may
read it only where every way from the journey's start to its send step passes the event outcome of
a `wait_for` (after a timeout there is no such event), and only the fields the awaited event types
all have.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridjourney.dsl.field_shapes import Shape
from gridjourney.dsl.schema import JourneyDefinition, WaitForStep
from gridjourney.dsl.vocabulary import event_shape

WAITED_EVENT = "waited_event"


def after_an_awaited_event(
    definition: JourneyDefinition, graph: Mapping[str, list[str]], successors: Mapping[str, str | None]
) -> frozenset[str]:
    """The steps reached only through a `wait_for` step's event outcome.

    Every step reachable from the first one along paths that never take an event outcome may run
    without an awaited event; the others cannot.
    """
    timeout_edge: dict[str, list[str]] = {}
    for step in definition.steps:
        if isinstance(step, WaitForStep):
            following = step.wait_for.on_timeout or successors.get(step.id)
            timeout_edge[step.id] = [following] if following is not None else []
    without: set[str] = set()
    frontier = [definition.steps[0].id]
    while frontier:
        current = frontier.pop()
        if current not in without:
            without.add(current)
            frontier.extend(timeout_edge.get(current, graph.get(current, [])))
    return frozenset(step.id for step in definition.steps) - without


def awaited_shape(definition: JourneyDefinition) -> Shape | None:
    """What `waited_event` has: the fields every awaited event type has (None: a type is unknown,
    reported elsewhere)."""
    shapes = [
        event_shape(step.wait_for.event, None) for step in definition.steps if isinstance(step, WaitForStep)
    ]
    if not shapes or any(shape is None or shape.keys is None for shape in shapes):
        return None
    keys = set.intersection(*(set(shape.keys or {}) for shape in shapes if shape is not None))
    first = next(shape for shape in shapes if shape is not None)
    assert first.keys is not None
    return Shape(keys={key: first.keys[key] for key in sorted(keys)}, keys_are="fields")
