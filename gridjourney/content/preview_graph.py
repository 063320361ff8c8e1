"""A journey's step graph as Mermaid flowchart text (`journeys preview`): one node per step, labelled
with its kind and what it does, one edge per way out, labelled with the branch condition, the split
weight, or event/timeout. Successors come from the compiler (gridjourney/dsl/compiler.py), so the
picture is the graph the workflow runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from gridjourney.dsl.compiler import successors
from gridjourney.dsl.durations import format_duration
from gridjourney.dsl.schema import (
    END,
    AnyStep,
    BranchStep,
    DrPerformanceStep,
    EndStep,
    JourneyDefinition,
    ScoreStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)

# Step ids start with a letter (dsl/schema.py Identifier), so these never clash with one.
_END_NODE = "_end"
_START_NODE = "_trigger"


# A label longer than this is cut: a graph is read at a glance (the file has the whole condition).
LABEL_CHARS = 200


def _quoted(text: str) -> str:
    # Mermaid labels are quoted; a double quote inside one is written as an entity.
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return '"' + text.replace('"', "#quot;") + '"'


def _label(step: AnyStep) -> str:
    if isinstance(step, SendStep):
        return f"send: {step.send.template} via {', '.join(step.send.channels)}"
    if isinstance(step, WaitStep):
        spec = step.wait
        if spec.after is not None:
            return f"wait: {format_duration(spec.duration or timedelta(0))} after {spec.after}"
        if spec.duration is not None:
            return f"wait: {format_duration(spec.duration)}"
        if spec.until_local_time is not None:
            return f"wait: until {spec.until_local_time:%H:%M} local"
        before = f" - {format_duration(spec.before)}" if spec.before is not None else ""
        return f"wait: until {spec.until}{before}"
    if isinstance(step, WaitForStep):
        return f"wait_for: {step.wait_for.event} (timeout {format_duration(step.wait_for.timeout)})"
    if isinstance(step, BranchStep):
        return "branch"
    if isinstance(step, SplitStep):
        return "split"
    if isinstance(step, ScoreStep):
        return f"score: {step.score.model}"
    if isinstance(step, UpdateStep):
        value = step.update.expression if step.update.expression is not None else repr(step.update.value)
        return f"update: {step.update.attribute} = {value}"
    if isinstance(step, DrPerformanceStep):
        return "dr_performance"
    return "end"


def _node(target: str | None) -> str:
    return _END_NODE if target is None or target == END else target


def _edges(step: AnyStep, following: str | None) -> Iterator[tuple[str, str | None]]:
    """(target node, edge label or None) of every way out of a step."""
    if isinstance(step, EndStep):
        yield _END_NODE, None
    elif isinstance(step, BranchStep):
        for case in step.branch:
            yield _node(case.goto), case.when or "otherwise"
        if step.branch[-1].when is not None:
            yield _node(following), "no case holds"
    elif isinstance(step, SplitStep):
        total = sum(arm.weight for arm in step.split)
        for arm in step.split:
            share = f"{arm.weight / total:.0%}"
            yield _node(arm.goto), f"{arm.label}: {share}" if arm.label else share
    elif isinstance(step, WaitForStep):
        on_event = step.wait_for.on_event or following
        on_timeout = step.wait_for.on_timeout or following
        when = f" when {step.wait_for.when}" if step.wait_for.when else ""
        yield _node(on_event), f"{step.wait_for.event}{when}"
        yield _node(on_timeout), "timeout"
    else:
        yield _node(following), None


def journey_mermaid(definition: JourneyDefinition) -> str:
    """`flowchart TD` text; paste it into any Mermaid renderer (GitHub shows it in ```mermaid blocks)."""
    after = successors(definition)
    triggers = " or ".join(t.event + (f" when {t.when}" if t.when else "") for t in definition.trigger)
    lines = ["flowchart TD", f"  {_START_NODE}([{_quoted('trigger: ' + triggers)}])"]
    seen: set[str] = set()
    for step in definition.steps:
        if step.id in seen:
            continue
        seen.add(step.id)
        lines.append(f"  {step.id}[{_quoted(step.id + ' — ' + _label(step))}]")
    lines.append(f"  {_END_NODE}(({_quoted('end')}))")
    lines.append(f"  {_START_NODE} --> {definition.steps[0].id}")
    for step in definition.steps:
        for target, label in _edges(step, after.get(step.id)):
            arrow = f" -->|{_quoted(label)}| " if label else " --> "
            lines.append(f"  {step.id}{arrow}{target}")
    if definition.exit_on:
        lines.append(f"  %% exits at any step on: {', '.join(definition.exit_event_types)}")
    return "\n".join(lines)
