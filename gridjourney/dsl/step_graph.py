"""A journey's step graph and the compiler's checks of it: step ids unique and not `end`, every
`next`, `goto`, `on_event` and `on_timeout` naming a step, the otherwise case of a branch last,
every step reachable, no loop without a wait; and the steps only a `dr_performance` step reaches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gridjourney.dsl.loader import JourneyError, Positions, did_you_mean
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.schema import (
    END,
    AnyStep,
    BranchStep,
    DrPerformanceStep,
    EndStep,
    JourneyDefinition,
    SplitStep,
    WaitForStep,
    WaitStep,
)


def _targets(step: AnyStep) -> Iterator[tuple[DataPath, str]]:
    """(path below the step, target id) for every reference a step makes."""
    if step.next is not None:
        yield ("next",), step.next
    if isinstance(step, WaitForStep):
        for name in ("on_event", "on_timeout"):
            target = getattr(step.wait_for, name)
            if target is not None:
                yield ("wait_for", name), target
    if isinstance(step, BranchStep):
        for i, case in enumerate(step.branch):
            yield ("branch", i, "goto"), case.goto
    if isinstance(step, SplitStep):
        for i, arm in enumerate(step.split):
            yield ("split", i, "goto"), arm.goto


def check_ids(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    seen: set[str] = set()
    for i, step in enumerate(definition.steps):
        if step.id in seen:
            yield positions.error(
                ("steps", i, "id"), f"duplicate step id `{step.id}`", "give each step its own id"
            )
        if step.id == END:
            yield positions.error(("steps", i, "id"), "`end` is reserved", "name the step differently")
        seen.add(step.id)
    for i, step in enumerate(definition.steps):
        for path, target in _targets(step):
            if target != END and target not in seen:
                yield positions.error(
                    ("steps", i, *path),
                    f"unknown step `{target}`",
                    did_you_mean(target, [*seen, END], "steps"),
                )
        if isinstance(step, BranchStep):
            for j, case in enumerate(step.branch[:-1]):
                if case.when is None:
                    yield positions.error(
                        ("steps", i, "branch", j),
                        "a case without `when` matches always; the cases after it never run",
                        "move the otherwise case (no `when`) to the end",
                    )


def check_graph(
    definition: JourneyDefinition, positions: Positions, graph: dict[str, list[str]]
) -> Iterator[JourneyError]:
    """Every step reachable from the first, and no loop without a wait (`graph`: step_edges)."""
    index = {step.id: i for i, step in reversed(list(enumerate(definition.steps)))}
    reached: set[str] = set()
    frontier = [definition.steps[0].id]
    while frontier:
        current = frontier.pop()
        if current not in reached:
            reached.add(current)
            frontier.extend(graph.get(current, []))
    for i, step in enumerate(definition.steps):
        if step.id not in reached and index[step.id] == i:
            yield positions.error(
                ("steps", i, "id"),
                f"step `{step.id}` can never be reached",
                "point a `next`, `goto`, `on_event` or `on_timeout` at it, or remove it",
            )
    waits = {s.id for s in definition.steps if isinstance(s, WaitStep | WaitForStep)}
    for cycle in _cycles_without(graph, waits):
        loop = " → ".join([*cycle, cycle[0]])
        yield positions.error(
            ("steps", index[cycle[0]], "id"),
            f"the steps {loop} loop without a wait: the journey would never stop",
            "put a `wait` or `wait_for` step on the loop",
        )


def step_edges(definition: JourneyDefinition, after: Mapping[str, str | None]) -> dict[str, list[str]]:
    """The steps each step may go to: its targets and, when it falls through, its successor in `after`
    (compiler.successors)."""
    ids = {step.id for step in definition.steps}
    graph: dict[str, list[str]] = {}
    for step in definition.steps:
        targets = [target for _, target in _targets(step) if target in ids]
        follows = after.get(step.id)
        falls_through = not isinstance(step, SplitStep | EndStep) and not (
            isinstance(step, BranchStep) and step.branch[-1].when is None
        )
        if falls_through and follows is not None and not (isinstance(step, WaitForStep) and _both_set(step)):
            targets.append(follows)
        graph.setdefault(step.id, []).extend(t for t in targets if t not in graph.get(step.id, []))
    return graph


def measured_steps(definition: JourneyDefinition, graph: dict[str, list[str]]) -> set[str]:
    """The steps reached only through a `dr_performance` step (`graph`: step_edges): their messages
    have `performance`."""
    ids = {step.id for step in definition.steps}
    measuring = {step.id for step in definition.steps if isinstance(step, DrPerformanceStep)}
    unmeasured: set[str] = set()
    frontier = [definition.steps[0].id]
    while frontier:
        current = frontier.pop()
        if current not in unmeasured:
            unmeasured.add(current)
            if current not in measuring:
                frontier.extend(graph.get(current, []))
    return ids - unmeasured


def _both_set(step: WaitForStep) -> bool:
    return step.wait_for.on_event is not None and step.wait_for.on_timeout is not None


def _cycles_without(graph: dict[str, list[str]], breakers: set[str]) -> list[list[str]]:
    """One cycle per strongly connected group of steps that has no step from `breakers` (Tarjan)."""
    nodes = [n for n in graph if n not in breakers]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt in breakers:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, []):
                found.append([n for n in graph if n in group])

    for node in nodes:
        if node not in index:
            visit(node)
    return found
