"""Checks a JourneyDefinition as a whole and compiles it into the step graph a workflow runs.

check_journey gathers the checks, each in its own module: the step graph (step_graph.py), event
types and purpose governance (event_type_checks.py), expressions (expression_checks.py), function
calls (function_checks.py), split vars (run_vars.py), schedules (schedule_checks.py), cohort mode
(cohort_checks.py; cohort_personal_checks.py for the templates a cohort sends) and templates
(template_checks.py); score models are checked here.

Successors: a step's `next` if given (`end` → None), else the next step in the list, else None.
A `branch` whose cases all have a `when` and none holds continues with its successor; `wait_for`
continues with `on_event` / `on_timeout`, each defaulting to the successor.

The content hash is the sha256 of the definition's canonical JSON (keys sorted, defaults filled,
durations normalised), so comments, whitespace, key order or `3d` vs `72h` create no new version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from gridjourney.config import get_settings
from gridjourney.dsl.cohort_checks import check_cohort
from gridjourney.dsl.cohort_personal_checks import no_personal_fields_in_templates
from gridjourney.dsl.declarations import DeclarationErrors
from gridjourney.dsl.event_type_checks import check_event_types, check_safety_triggers
from gridjourney.dsl.expression_checks import (
    check_expressions,
    journey_customer_shape,
    steps_event_scope,
    trigger_fields,
)
from gridjourney.dsl.field_shapes import Shape
from gridjourney.dsl.function_checks import check_functions
from gridjourney.dsl.loader import (
    JourneyError,
    JourneyErrors,
    Positions,
    did_you_mean,
    journey_text,
    load_journey_with_positions,
)
from gridjourney.dsl.run_vars import check_split_vars, vars_at_steps
from gridjourney.dsl.schedule_checks import check_schedule
from gridjourney.dsl.schema import (
    END,
    SCORE_MODELS,
    CompiledJourney,
    EndStep,
    JourneyDefinition,
    ScoreStep,
)
from gridjourney.dsl.step_graph import check_graph, check_ids, measured_steps, step_edges
from gridjourney.dsl.template_checks import (
    check_safety_templates,
    check_templates,
    locale_warnings,
    sends,
)
from gridjourney.dsl.vocabulary import customer_shape
from gridjourney.dsl.waited_event import after_an_awaited_event
from gridjourney.events.types import known_event_types


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
    graph = step_edges(definition, successors(definition))
    errors = [
        *check_ids(definition, positions),
        *check_event_types(definition, positions),
        *check_safety_triggers(definition, positions, safety_types),
        *check_expressions(definition, positions),
        *check_functions(definition, positions),
        *_check_scores(definition, positions),
        *check_graph(definition, positions, graph),
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
        vars_at = vars_at_steps(definition, graph)
        awaited = after_an_awaited_event(definition, graph, successors(definition))
        uses = sends(
            definition,
            trigger_fields(definition),
            measured_steps(definition, graph),
            nested,
            vars_at,
            awaited,
        )
        errors.extend(check_templates(uses, positions, templates_dir, customer))
        errors.extend(check_safety_templates(definition, uses, positions, templates_dir))
        # a cohort run gets events without their personal fields: a template reading one is refused
        errors.extend(no_personal_fields_in_templates(definition, positions, templates_dir))
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
    measured = measured_steps(definition, step_edges(definition, successors(definition)))
    uses = sends(definition, trigger_fields(definition), measured)
    found = locale_warnings(uses, positions, templates_dir, configured)
    return sorted(dict.fromkeys(found), key=lambda e: (e.line, e.column, e.message))


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
