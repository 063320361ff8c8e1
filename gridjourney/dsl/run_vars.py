"""Split arms' `vars`: which names each arm sets, and which are surely set when a step runs.

A run keeps the `vars` of every split arm it took (a later arm's value replaces an earlier one), and
its messages read them as `{{ vars.<name> }}`. A template may read a name only where every way from
the journey's start to its send step passes a split that sets it, otherwise the message would fail
to render for some customers; so every arm of one split must set the same names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.schema import JourneyDefinition, SplitStep


def names_set_by(step: SplitStep) -> frozenset[str]:
    """The names every arm of this split sets (an arm without `vars` sets none)."""
    arms = [frozenset(arm.vars or {}) for arm in step.split]
    return frozenset.intersection(*arms)


def all_var_names(definition: JourneyDefinition) -> frozenset[str]:
    """Every name some split arm of the journey sets."""
    return frozenset(
        name
        for step in definition.steps
        if isinstance(step, SplitStep)
        for arm in step.split
        for name in arm.vars or {}
    )


def vars_at_steps(definition: JourneyDefinition, graph: Mapping[str, list[str]]) -> dict[str, frozenset[str]]:
    """Step id → the names surely set when it runs (set on every path from the first step).

    A forward data-flow over the step graph: what reaches a step is the intersection of what leaves
    each step before it; a split adds the names all its arms set. Steps never reached get every name.
    """
    everything = all_var_names(definition)
    adds = {step.id: names_set_by(step) for step in definition.steps if isinstance(step, SplitStep)}
    first = definition.steps[0].id
    reaching: dict[str, frozenset[str]] = {step.id: everything for step in definition.steps}
    reaching[first] = frozenset()
    changed = True
    while changed:
        changed = False
        for step in definition.steps:
            leaving = reaching[step.id] | adds.get(step.id, frozenset())
            for following in graph.get(step.id, []):
                narrowed = reaching[following] & leaving
                if following == first:
                    narrowed = frozenset()
                if narrowed != reaching[following]:
                    reaching[following] = narrowed
                    changed = True
    return reaching


def check_split_vars(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    """Every arm of a split sets the same names: a template reading one would fail on the other arm."""
    for i, step in enumerate(definition.steps):
        if not isinstance(step, SplitStep) or not any(arm.vars for arm in step.split):
            continue
        named = frozenset(name for arm in step.split for name in arm.vars or {})
        for j, arm in enumerate(step.split):
            missing = sorted(named - set(arm.vars or {}))
            if missing:
                listed = ", ".join(f"`{name}`" for name in missing)
                yield positions.error(
                    ("steps", i, "split", j),
                    f"this arm does not set {listed}, which another arm of the split sets",
                    "give every arm the same `vars` names (e.g. `vars: {subject: ...}` on each), so "
                    "each customer's messages have them",
                )
