"""The compiler's checks of `mode: cohort`: one run per triggering event for a whole audience.

A cohort run has no single customer: it cannot wait for each member's local time, track each
member's goal, or hear an event that is about one customer. Every event it hears (updates, notices,
exits, `wait_for`) must carry the field its `cohort.key` reads, since that field is how the event is
routed to the run. `dr_performance` measures a DR event's members, so it needs cohort mode and a
`dr.*` trigger. A run is shared by its members and outlives their erasure, so the events it gets
carry no personal fields (router/cohorts.py): nothing of the journey may read one
(dsl/cohort_personal_checks.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import Any

from gridjourney.dsl.cohort_personal_checks import no_personal_fields_read
from gridjourney.dsl.expression_bounds import parse_bounded, shown
from gridjourney.dsl.expressions import Scope, check_condition, check_expression, event_fields, fields_read
from gridjourney.dsl.loader import JourneyError, Positions, did_you_mean
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.pointing import pointed_error
from gridjourney.dsl.schema import (
    CohortSpec,
    DrPerformanceStep,
    ExitOnSpec,
    JourneyDefinition,
    SplitStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.dsl.vocabulary import customer_shape
from gridjourney.events.types import known_event_types

Fields = frozenset[str] | None
DR_TRIGGER_PREFIX = "dr."
ONE_RUN_PER_KEY = "a cohort journey runs once per `cohort.key` (e.g. once per DR event): remove it"
PER_CUSTOMER_EVENT_HINT = (
    "a cohort run hears only events about its whole event; an event about one customer belongs "
    "in a per_customer journey"
)


def check_cohort(
    definition: JourneyDefinition, positions: Positions, event_scope: Fields
) -> Iterator[JourneyError]:
    """Every cohort-mode problem of `definition`; `event_scope` is the keys `event` has in its steps
    (those of every trigger type, None when a trigger type is unknown)."""
    if definition.cohort is None:
        yield from _dr_performance_needs_cohort(definition, positions)
        return
    yield from check_run_wide(definition, positions)
    yield from _check_block(definition, definition.cohort, positions, event_scope)
    key_fields = fields_read(definition.cohort.key, "event")
    if event_scope is not None and not key_fields <= event_scope:
        key_fields = frozenset()  # the key itself is reported; its fields would be reported again here
    yield from _heard_events_carry_the_key(definition, definition.cohort, key_fields, positions)
    yield from no_personal_fields_read(definition, definition.cohort, positions)


def check_run_wide(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    """What one run over a whole audience cannot do, whatever starts it: an event (`cohort`) or a
    schedule (dsl/schedule_checks.py)."""
    yield from _per_customer_only(definition, positions)
    yield from _run_expressions_without_customer(definition, positions)
    yield from _dr_performance_needs_dr_trigger(definition, positions)


def _dr_performance_needs_cohort(
    definition: JourneyDefinition, positions: Positions
) -> Iterator[JourneyError]:
    for i, step in enumerate(definition.steps):
        if isinstance(step, DrPerformanceStep):
            yield positions.error(
                ("steps", i, "dr_performance"),
                "`dr_performance` runs in cohort mode only: it measures the members of a DR event",
                "use `mode: cohort` with a `cohort:` block and a dr.* trigger (see journeys/dr_event.yaml)",
                key=True,
            )


def _dr_performance_needs_dr_trigger(
    definition: JourneyDefinition, positions: Positions
) -> Iterator[JourneyError]:
    others = [t.event for t in definition.trigger if not t.event.startswith(DR_TRIGGER_PREFIX)]
    if not others:
        return
    for i, step in enumerate(definition.steps):
        if isinstance(step, DrPerformanceStep):
            yield positions.error(
                ("steps", i, "dr_performance"),
                f"`dr_performance` measures a DR event; the trigger `{others[0]}` is not one",
                "trigger the journey with a DR event (e.g. `dr.event_scheduled`), or remove the step",
                key=True,
            )


def _per_customer_only(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    """What needs one customer's own clock or identity."""
    for name in sorted(definition.entry.model_fields_set):
        hint = (
            "the holdout of a cohort is `cohort.audience.holdout`" if name == "holdout" else ONE_RUN_PER_KEY
        )
        yield positions.error(
            ("entry", name), f"`entry.{name}` is per-customer; cohort mode has no entries", hint, key=True
        )
    if definition.goal is not None:
        yield positions.error(
            ("goal",),
            "`goal` tracks each customer's conversion; cohort mode has none",
            "measure a cohort's effect against `cohort.audience.holdout` (DR: a `dr_performance` step), "
            "or use mode per_customer",
            key=True,
        )
    for j, item in enumerate(definition.exit_on):
        if isinstance(item, ExitOnSpec):
            yield positions.error(
                ("exit_on", j, "when"),
                "a conditional `exit_on` is per-customer; a cohort run exits on the event type alone",
                "write the event type alone (`exit_on: [outage.cancelled]`), or use mode per_customer",
                key=True,
            )
    for i, step in enumerate(definition.steps):
        if isinstance(step, SplitStep) and any(arm.vars for arm in step.split):
            yield positions.error(
                ("steps", i, "split"),
                "split arms' `vars` reach the messages of a per_customer run only",
                "in cohort mode, send a different template on each arm",
                key=True,
            )
        if isinstance(step, WaitStep) and step.wait.until_local_time is not None:
            yield positions.error(
                ("steps", i, "wait", "until_local_time"),
                "`until_local_time` waits for each member's own local time; a cohort waits once for all "
                "its members",
                "wait `until:` a time of the event (e.g. `until: event.start, before: 1h`) or for a "
                "duration (e.g. `wait: 2h`)",
                key=True,
            )


def _run_expressions_without_customer(
    definition: JourneyDefinition, positions: Positions
) -> Iterator[JourneyError]:
    """Triggers, waits and wait_for conditions are decided once for the whole run: no `customer`.
    (Branches, splits and updates are decided per member.)"""
    decided_once: list[tuple[DataPath, str, str]] = [
        (("trigger", i, "when"), "trigger", t.when) for i, t in enumerate(definition.trigger) if t.when
    ]
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitStep) and step.wait.until is not None:
            decided_once.append((("steps", i, "wait", "until"), "wait", step.wait.until))
        if isinstance(step, WaitStep) and step.wait.after is not None:
            decided_once.append((("steps", i, "wait", "after"), "wait", step.wait.after))
        if isinstance(step, WaitForStep) and step.wait_for.when is not None:
            decided_once.append((("steps", i, "wait_for", "when"), "wait_for", step.wait_for.when))
    for path, what, expr in decided_once:
        if "customer" in _names_used(expr):
            yield positions.error(
                path,
                f"expression {shown(expr)}: a cohort's `{what}` is decided once for the whole run; it has no "
                "`customer`",
                "choose members with `cohort.audience.where`, or route them with a `branch` step",
            )


def _names_used(expr: str) -> set[str]:
    try:
        tree = parse_bounded(expr.strip())
    except SyntaxError:
        return set()  # reported by the expression checks
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _check_block(
    definition: JourneyDefinition, cohort: CohortSpec, positions: Positions, event_scope: Fields
) -> Iterator[JourneyError]:
    over_event: dict[str, Fields] = {"event": event_scope}
    checks: list[tuple[DataPath, str, Mapping[str, Scope]]] = [(("cohort", "key"), cohort.key, over_event)]
    audience = cohort.audience
    if audience.program is not None:
        checks.append((("cohort", "audience", "program"), audience.program, over_event))
    if audience.where is not None:
        where_scope: dict[str, Scope] = {"customer": customer_shape(), "event": event_scope}
        checks.append((("cohort", "audience", "where"), audience.where, where_scope))
    if audience.target is not None:
        checks.append((("cohort", "audience", "target", "kw"), audience.target.kw, over_event))
    for path, expr, scope in checks:
        check = check_condition if path[-1] == "where" else check_expression
        for problem in check(expr, scope):
            names = " and ".join(f"`{name}`" for name in scope)
            message = f"expression {shown(expr)}: {problem}"
            yield pointed_error(positions, path, expr, message, f"this expression reads {names}")
    if audience.holdout > 0 and definition.purpose == "safety":
        yield positions.error(
            ("cohort", "audience", "holdout"),
            "a safety journey cannot hold members out: they would not hear about a hazard",
            "remove `holdout` (holdouts measure informational or marketing journeys, e.g. DR events)",
        )
    if not fields_read(cohort.key, "event"):
        yield positions.error(
            ("cohort", "key"),
            f"the cohort key {cohort.key!r} reads nothing from the triggering event",
            "name the field that identifies the event, e.g. `event.dr_event_id` or `event.incident_id`",
        )
    step_ids = [step.id for step in definition.steps]
    for j, notice in enumerate(cohort.on_update):
        for k, step_id in enumerate(notice.at_steps):
            if step_id not in step_ids:
                yield positions.error(
                    ("cohort", "on_update", j, "at_steps", k),
                    f"unknown step `{step_id}`",
                    did_you_mean(step_id, step_ids, "steps"),
                )
        if notice.moved_by is not None:
            yield from _check_moved_by(notice.event, notice.moved_by.field, j, positions)
        yield from _check_changed(notice.event, notice.changed, j, positions)


def _check_changed(
    event_type: str, changed: list[str], j: int, positions: Positions
) -> Iterator[JourneyError]:
    model = known_event_types().get(event_type)
    if model is None:
        return  # reported as an unknown event type
    fields = sorted(_properties(model))
    for k, field in enumerate(changed):
        if field not in fields:
            yield positions.error(
                ("cohort", "on_update", j, "changed", k),
                f"`{field}` is not a field of `{event_type}`",
                did_you_mean(field, fields, "its fields"),
            )


def _check_moved_by(event_type: str, field: str, j: int, positions: Positions) -> Iterator[JourneyError]:
    model = known_event_types().get(event_type)
    if model is None:
        return  # reported as an unknown event type
    times = sorted(name for name, schema in _properties(model).items() if _is_timestamp(schema))
    if field not in times:
        known = ", ".join(f"`{name}`" for name in times) or "none"
        yield positions.error(
            ("cohort", "on_update", j, "moved_by", "field"),
            f"`{field}` is not a time field of `{event_type}`",
            did_you_mean(field, times, "its time fields") if times else f"its time fields: {known}",
        )


def _properties(model: type[Any]) -> dict[str, Any]:
    properties: dict[str, Any] = model.model_json_schema().get("properties", {})
    return properties


def _is_timestamp(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("format") == "date-time" for option in options)


def _heard_events_carry_the_key(
    definition: JourneyDefinition, cohort: CohortSpec, key_fields: frozenset[str], positions: Positions
) -> Iterator[JourneyError]:
    heard: list[tuple[DataPath, str, bool]] = [
        (("cohort", "updates", j), event, True) for j, event in enumerate(cohort.updates)
    ]
    heard += [(("cohort", "on_update", j, "event"), n.event, True) for j, n in enumerate(cohort.on_update)]
    # exit_on and wait_for types are checked for being known with the per-customer ones
    heard += [(("exit_on", j), event, False) for j, event in enumerate(definition.exit_event_types)]
    heard += [
        (("steps", i, "wait_for", "event"), step.wait_for.event, False)
        for i, step in enumerate(definition.steps)
        if isinstance(step, WaitForStep)
    ]
    for path, event_type, report_unknown in heard:
        fields = event_fields(event_type)
        if fields is None:
            if report_unknown:
                yield positions.error(
                    path,
                    f"unknown event type `{event_type}`",
                    did_you_mean(event_type, known_event_types(), "known types"),
                )
            continue
        missing = sorted(key_fields - fields)
        if missing:
            yield positions.error(
                path,
                f"`{event_type}` has no `{missing[0]}`, which the cohort key {cohort.key!r} reads: it "
                "cannot reach the run",
                PER_CUSTOMER_EVENT_HINT,
            )
