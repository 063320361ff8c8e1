"""Checks a JourneyDefinition as a whole and compiles it into the step graph a workflow runs.

Successors: a step's `next` if given (`end` → None), else the next step in the list, else None.
A `branch` whose cases all have a `when` and none holds continues with its successor; `wait_for`
continues with `on_event` / `on_timeout`, each defaulting to the successor.

The content hash is the sha256 of the definition's canonical JSON (keys sorted, defaults filled,
durations normalised), so comments, whitespace, key order or `3d` vs `72h` create no new version.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from gridjourney.config import get_settings
from gridjourney.dsl.cohort_checks import check_cohort
from gridjourney.dsl.declarations import DeclarationErrors
from gridjourney.dsl.expression_bounds import BOUNDS_HINT, TOO_COMPLEX, shown
from gridjourney.dsl.expressions import (
    ALL_FUNCTIONS,
    ANY,
    EVENT_ENVELOPE,
    JOURNEY_FIELDS,
    Scope,
    Shape,
    check_condition,
    check_expression,
    event_fields,
)
from gridjourney.dsl.function_checks import check_functions
from gridjourney.dsl.loader import (
    JourneyError,
    JourneyErrors,
    Positions,
    did_you_mean,
    journey_text,
    load_journey_with_positions,
)
from gridjourney.dsl.loader import (
    Path as DataPath,
)
from gridjourney.dsl.pointing import pointed_error
from gridjourney.dsl.run_vars import check_split_vars, vars_at_steps
from gridjourney.dsl.schedule import SCHEDULE_EVENT_FIELDS
from gridjourney.dsl.schedule_checks import check_schedule
from gridjourney.dsl.schema import (
    END,
    SCORE_MODELS,
    AnyStep,
    BranchStep,
    CompiledJourney,
    DrPerformanceStep,
    EndStep,
    ExitOnSpec,
    JourneyDefinition,
    ScoreStep,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.dsl.template_checks import (
    CUSTOMER_HINT,
    SAFETY_HINT,
    check_safety_templates,
    check_templates,
    locale_warnings,
    sends,
)
from gridjourney.dsl.vocabulary import customer_shape, event_shape
from gridjourney.dsl.waited_event import after_an_awaited_event
from gridjourney.events.types import known_event_types

Fields = frozenset[str] | None


def definition_hash(definition: JourneyDefinition) -> str:
    data = definition.model_dump(mode="json")
    if data.get("cohort") is None:  # per-customer journeys published before cohort mode existed
        data.pop("cohort", None)
    for trigger in data["trigger"]:  # event triggers published before schedule triggers existed
        for key in ("schedule", "audience"):
            if trigger.get(key) is None:
                trigger.pop(key, None)
    for step in data["steps"]:
        # A key added to the language after journeys were published: unset, it leaves their hash as
        # it was, so publishing an unchanged file makes no new version.
        if "send" in step and step["send"].get("sending_hours") is None:
            step["send"].pop("sending_hours", None)
        if "wait" in step and step["wait"].get("after") is None:
            step["wait"].pop("after", None)
        for arm in step.get("split") or []:
            if arm.get("vars") is None:
                arm.pop("vars", None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_hash(source_yaml: str, filename: str = "<journey>") -> str:
    """The hash a publish of this YAML stores. Raises JourneyErrors if it does not load."""
    return definition_hash(load_journey_with_positions(source_yaml, filename).definition)


def successors(definition: JourneyDefinition) -> dict[str, str | None]:
    steps = definition.steps
    result: dict[str, str | None] = {}
    for i, step in enumerate(steps):
        if isinstance(step, EndStep):
            following = None
        elif step.next is not None:
            following = None if step.next == END else step.next
        else:
            following = steps[i + 1].id if i + 1 < len(steps) else None
        result.setdefault(step.id, following)
    return result


def compile_journey(
    definition: JourneyDefinition,
    *,
    version: int,
    content_hash: str,
    templates_dir: Path | None,
    safety_event_types: Sequence[str] | None = None,
) -> CompiledJourney:
    """Check and compile; raises JourneyErrors. `templates_dir=None` skips the template checks."""
    errors = check_journey(
        definition, Positions(f"<{definition.id}>"), templates_dir, safety_event_types=safety_event_types
    )
    if errors:
        raise JourneyErrors(errors)
    return CompiledJourney(
        journey_id=definition.id,
        version=version,
        content_hash=content_hash,
        definition=definition,
        successors=successors(definition),
    )


def check_journey(
    definition: JourneyDefinition,
    positions: Positions,
    templates_dir: Path | None,
    *,
    safety_event_types: Sequence[str] | None = None,
) -> list[JourneyError]:
    """Every problem of a loaded journey, in file order.

    `safety_event_types` (glob patterns) are the triggers `purpose: safety` allows; None: the
    configured ones (GRIDJOURNEY_SAFETY_EVENT_TYPES).
    """
    safety_types = get_settings().safety_event_types if safety_event_types is None else safety_event_types
    vocabulary_problems = _vocabulary_problems()
    if vocabulary_problems:
        return vocabulary_problems  # every name would be in doubt: the declarations first
    errors = [
        *_check_ids(definition, positions),
        *_check_event_types(definition, positions),
        *_check_safety_triggers(definition, positions, safety_types),
        *_check_expressions(definition, positions),
        *check_functions(definition, positions),
        *_check_scores(definition, positions),
        *_check_graph(definition, positions),
        *check_split_vars(definition, positions),
        *(
            check_schedule(definition, positions)
            if definition.schedule is not None
            else check_cohort(definition, positions, trigger_fields(definition))
        ),
    ]
    if templates_dir is not None:
        customer = journey_customer_shape(definition)
        shape = steps_event_scope(definition, customer)
        nested = shape if isinstance(shape, Shape) else None
        graph = _edges(definition, {step.id for step in definition.steps})
        vars_at = vars_at_steps(definition, graph)
        awaited = after_an_awaited_event(definition, graph, successors(definition))
        uses = sends(
            definition, trigger_fields(definition), measured_steps(definition), nested, vars_at, awaited
        )
        errors.extend(check_templates(uses, positions, templates_dir, customer))
        errors.extend(check_safety_templates(definition, uses, positions, templates_dir))
    return sorted(dict.fromkeys(errors), key=lambda e: (e.line, e.column, e.message))


def _vocabulary_problems() -> list[JourneyError]:
    """The declaration files' problems (events/*.yaml, customer_attributes.yaml), at their positions."""
    try:
        known_event_types()
        customer_shape()
    except DeclarationErrors as errors:
        return [JourneyError(e.file, e.line, e.column, e.message, e.hint) for e in errors.errors]
    return []


def file_warnings(path: Path, templates_dir: Path) -> list[JourneyError]:
    """The warnings of a journey file that loads (journey_warnings); [] when it does not load."""
    try:
        loaded = load_journey_with_positions(journey_text(path), str(path))
    except JourneyErrors:
        return []
    return journey_warnings(loaded.definition, loaded.positions, templates_dir)


def journey_warnings(
    definition: JourneyDefinition,
    positions: Positions,
    templates_dir: Path,
    locales: Sequence[str] | None = None,
) -> list[JourneyError]:
    """What works but is likely not meant, in file order: a configured locale (`locales`, default
    GRIDJOURNEY_LOCALES) without a template, whose customers get the English one. Each message
    starts with `warning:`."""
    configured = list(get_settings().locales if locales is None else locales)
    uses = sends(definition, trigger_fields(definition), measured_steps(definition))
    found = locale_warnings(uses, positions, templates_dir, configured)
    return sorted(dict.fromkeys(found), key=lambda e: (e.line, e.column, e.message))


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


def _check_ids(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
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


# Close enough to be a typo of a known type; a farther name is a new type to declare (bill.past_due
# is not a misspelt bill.issued).
EVENT_TYPE_CUTOFF = 0.75
DECLARE_HINT = "declare a new event type in events/*.yaml (see gridjourney/events/declared.py)"
EVENT_FIELDS_HINT = (
    "an event has its type's payload fields (POST /v1/events in the API's OpenAPI document lists them; "
    "types of your own declare theirs in events/*.yaml), `type` and `occurred_at`"
)
NOT_ROUTED_HINT = (
    "journey.*, message.*, suppression.* and push.* events are the engine's own records: the router "
    "never hands them to journeys (a journey reacting to its own bookkeeping could loop). To follow "
    "another journey, trigger on the event that journey reacts to, or add a step to it"
)


def _check_event_types(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
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


def _check_scores(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    for i, step in enumerate(definition.steps):
        if isinstance(step, ScoreStep) and step.score.model not in SCORE_MODELS:
            name = step.score.model
            # a model's saved name (dr_enrolment) for its score name (dr_propensity)
            known_as = [score for score, model in SCORE_MODELS.items() if model == name]
            hint = (
                f"the {name} model's score is called `{known_as[0]}`"
                if known_as
                else did_you_mean(name, SCORE_MODELS, "known scores")
            )
            yield positions.error(("steps", i, "score", "model"), f"unknown score model `{name}`", hint)


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


def _check_expressions(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
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


def _check_graph(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    ids = {step.id for step in definition.steps}
    graph = _edges(definition, ids)
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


def _edges(definition: JourneyDefinition, ids: set[str]) -> dict[str, list[str]]:
    after = successors(definition)
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


def measured_steps(definition: JourneyDefinition) -> set[str]:
    """The steps reached only through a `dr_performance` step: their messages have `performance`."""
    ids = {step.id for step in definition.steps}
    graph = _edges(definition, ids)
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


# --- purpose governance: `safety` skips consent (activities/eligibility.py), so it must carry only
# safety content, sent because of a safety event.
def is_safety_event(event_type: str, safety_event_types: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in safety_event_types)


def _check_safety_triggers(
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
