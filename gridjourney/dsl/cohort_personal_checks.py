"""The compiler's check that a cohort journey reads no personal field of the events its run gets.

A cohort run is shared by its members and no erasure deletes it (privacy/workflow_erasure.py deletes
a customer's own executions), so the router hands it events without their personal fields
(privacy/fields.py PERSONAL_FIELDS, router/cohorts.py shared_copy): a member's reply body, a
`customer.updated`'s name, phone and email. An expression or an `on_update` field that would read one
would find nothing; it is refused at load, where it reads it: expressions and `on_update` fields by
check_cohort (dsl/cohort_checks.py), templates by no_personal_fields_in_templates, which needs the
templates folder (the compiler's template checks, when it has one).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gridjourney.content import TemplateProblem, template_locales, template_reads
from gridjourney.content.render import template_path
from gridjourney.dsl.expression_bounds import shown
from gridjourney.dsl.expressions import fields_read
from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.pointing import pointed_error
from gridjourney.dsl.schema import (
    BranchStep,
    CohortSpec,
    JourneyDefinition,
    SendSpec,
    SendStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from gridjourney.privacy.fields import personal_fields_of

NEVER_GETS = "personal data, which a cohort run never gets"
PERSONAL_FIELD_HINT = (
    "a cohort run is shared by its members and outlives their erasure: it gets events without their "
    "personal fields; read them in a per_customer journey"
)


def _trigger_types(definition: JourneyDefinition) -> list[str]:
    return [trigger.event for trigger in definition.trigger if trigger.schedule is None]


def no_personal_fields_read(
    definition: JourneyDefinition, cohort: CohortSpec, positions: Positions
) -> Iterator[JourneyError]:
    """The personal fields of the events a run gets (privacy/fields.py PERSONAL_FIELDS) are not in
    them: an expression that reads one is refused, where it reads it. `event` in steps and the
    audience is the run's subject (the trigger, then its `updates`); the key reads every event heard;
    a wait_for's `when` reads the awaited event as `event` and the subject as `trigger`. (A trigger's
    `when` is decided by the router on the whole event, before the run gets it.)"""
    triggers = _trigger_types(definition)
    in_subject = personal_fields_of([*triggers, *cohort.updates])
    heard = [*cohort.updates, *(n.event for n in cohort.on_update), *definition.exit_event_types]
    heard += [step.wait_for.event for step in definition.steps if isinstance(step, WaitForStep)]
    reads: list[tuple[DataPath, str, dict[str, frozenset[str]]]] = [
        (("cohort", "key"), cohort.key, {"event": personal_fields_of([*triggers, *heard])})
    ]
    over_subject = {"event": in_subject}
    audience = cohort.audience
    for name, expr in (("program", audience.program), ("where", audience.where)):
        if expr is not None:
            reads.append((("cohort", "audience", name), expr, over_subject))
    if audience.target is not None:
        reads.append((("cohort", "audience", "target", "kw"), audience.target.kw, over_subject))
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitStep):
            for name, expr in (("until", step.wait.until), ("after", step.wait.after)):
                if expr is not None:
                    reads.append((("steps", i, "wait", name), expr, over_subject))
        if isinstance(step, WaitForStep) and step.wait_for.when is not None:
            awaited = {"event": personal_fields_of([step.wait_for.event]), "trigger": in_subject}
            reads.append((("steps", i, "wait_for", "when"), step.wait_for.when, awaited))
        if isinstance(step, BranchStep):
            reads += [
                (("steps", i, "branch", j, "when"), case.when, over_subject)
                for j, case in enumerate(step.branch)
                if case.when is not None
            ]
        if isinstance(step, UpdateStep) and step.update.expression is not None:
            reads.append((("steps", i, "update", "expression"), step.update.expression, over_subject))
    for path, expr, personal in reads:
        for name, fields in personal.items():
            for field in sorted(fields_read(expr, name) & fields):
                message = f"expression {shown(expr)}: `{name}.{field}` is {NEVER_GETS}"
                yield pointed_error(positions, path, expr, message, PERSONAL_FIELD_HINT)
    for j, notice in enumerate(cohort.on_update):
        for k, field in enumerate(notice.changed):
            if field in in_subject | personal_fields_of([notice.event]):
                yield positions.error(
                    ("cohort", "on_update", j, "changed", k),
                    f"`{field}` is {NEVER_GETS}",
                    PERSONAL_FIELD_HINT,
                )


def no_personal_fields_in_templates(
    definition: JourneyDefinition, positions: Positions, templates_dir: Path
) -> Iterator[JourneyError]:
    """The templates a cohort journey sends (its steps' and its `on_update` notices') read `event`,
    the run's subject: one that reads a personal field of it is refused, with the template's line.
    A template that does not compile is reported by the template checks (dsl/template_checks.py)."""
    cohort = definition.cohort
    if cohort is None:
        return
    in_subject = personal_fields_of([*_trigger_types(definition), *cohort.updates])
    if not in_subject:
        return
    sends: list[tuple[DataPath, SendSpec]] = [
        (("steps", i, "send", "template"), step.send)
        for i, step in enumerate(definition.steps)
        if isinstance(step, SendStep)
    ]
    sends += [
        (("cohort", "on_update", j, "send", "template"), n.send) for j, n in enumerate(cohort.on_update)
    ]
    for path, send in sends:
        for channel in dict.fromkeys(send.channels):
            for locale in template_locales(templates_dir, channel, send.template):
                try:
                    used = template_reads(templates_dir, channel, send.template, locale)
                except TemplateProblem:
                    continue
                for variable, line in sorted(used.items()):
                    root, _, rest = variable.partition(".")
                    field = rest.split(".")[0]
                    if root == "event" and field in in_subject:
                        where = f"{template_path(channel, send.template, locale)}:{line}"
                        message = f"template {where} reads `event.{field}`, {NEVER_GETS}"
                        yield positions.error(path, message, PERSONAL_FIELD_HINT)
