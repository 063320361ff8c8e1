"""Every expression of a journey with where it is written (its path in the file's data): trigger,
goal and exit conditions, wait_for conditions, branch cases, update values and wait times."""

from __future__ import annotations

from gridjourney.dsl.schema import (
    BranchStep,
    ExitOnSpec,
    JourneyDefinition,
    UpdateStep,
    WaitForStep,
    WaitStep,
)

DataPath = tuple[str | int, ...]


def expression_paths(definition: JourneyDefinition) -> list[tuple[DataPath, str]]:
    found: list[tuple[DataPath, str | None]] = [
        (("trigger", i, "when"), trigger.when) for i, trigger in enumerate(definition.trigger)
    ]
    if definition.goal is not None:
        found.append((("goal", "when"), definition.goal.when))
    found += [
        (("exit_on", i, "when"), item.when)
        for i, item in enumerate(definition.exit_on)
        if isinstance(item, ExitOnSpec)
    ]
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitForStep):
            found.append((("steps", i, "wait_for", "when"), step.wait_for.when))
        elif isinstance(step, BranchStep):
            found += [(("steps", i, "branch", j, "when"), case.when) for j, case in enumerate(step.branch)]
        elif isinstance(step, UpdateStep):
            found.append((("steps", i, "update", "expression"), step.update.expression))
        elif isinstance(step, WaitStep):
            found += [
                (("steps", i, "wait", "until"), step.wait.until),
                (("steps", i, "wait", "after"), step.wait.after),
            ]
    return [(path, expr) for path, expr in found if expr is not None]
