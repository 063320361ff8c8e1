"""The compiler's checks of the templates a journey sends: they exist, compile, read only what
messages have, and, for `purpose: safety`, are marked safety.

A journey sends from its `send` steps and, in cohort mode, from its `cohort.on_update` notices. What a
template may read depends on where it is sent from (see gridjourney/content/__init__.py for the
context): `event` has the trigger's fields (an update notice's event also those of the
`cohort.updates` types), and `performance` exists only after a `dr_performance` step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gridjourney.content import (
    TemplateProblem,
    template_exists,
    template_locales,
    template_purpose,
    template_reads,
)
from gridjourney.content.pinned import PinProblem, oversized
from gridjourney.content.render import SUBJECT_PREFIX, split_purpose, template_path
from gridjourney.content.template_source import NotUtf8, read_text
from gridjourney.dsl.expressions import JOURNEY_FIELDS, event_fields
from gridjourney.dsl.field_shapes import Shape, field_problem
from gridjourney.dsl.loader import JourneyError, Positions, did_you_mean
from gridjourney.dsl.loader import Path as DataPath
from gridjourney.dsl.run_vars import all_var_names
from gridjourney.dsl.schema import JourneyDefinition, SendSpec, SendStep
from gridjourney.dsl.waited_event import WAITED_EVENT, awaited_shape

TEMPLATE_NAMES = ("customer", "event", "journey")
RUN_VARS = "vars"  # split arms' values (dsl/run_vars.py)
# What a `dr_performance` step gives the messages after it (gridjourney/dr/queries.py performance_of).
PERFORMANCE_FIELDS = frozenset({"known", "kwh_saved", "credit", "responded"})
Fields = frozenset[str] | None
EVENT_FIELDS_HINT = "the awaited event has its type's payload fields, `type` and `occurred_at`"
CUSTOMER_HINT = "customer attributes, segments and scores are declared in customer_attributes.yaml"
SAFETY_HINT = (
    "marketing content can never go out as safety: use purpose informational or marketing, which "
    "need the customer's consent"
)


@dataclass(frozen=True)
class SendUse:
    """One place a journey sends from: the path of its `send` mapping and what its templates see."""

    path: DataPath
    send: SendSpec
    event_fields: Fields
    performance: bool
    # The trigger's nested fields (customer.updated's `attributes`), when one event type starts it.
    event_shape: Shape | None = None
    # Split arms' `vars` (dsl/run_vars.py): the names surely set when this send runs, and every name
    # some arm of the journey sets.
    vars_set: frozenset[str] = frozenset()
    vars_named: frozenset[str] = frozenset()
    # `waited_event` (dsl/waited_event.py): whether every way here passes a wait_for's event outcome,
    # and what that event has (None: not known).
    after_awaited: bool = False
    awaited: Shape | None = None


def sends(
    definition: JourneyDefinition,
    event_scope: Fields,
    measured_steps: set[str],
    event_shape: Shape | None = None,
    vars_at: Mapping[str, frozenset[str]] | None = None,
    after_awaited: frozenset[str] | None = None,
) -> list[SendUse]:
    """Every send of the journey. `measured_steps`: the steps reached only through a dr_performance
    step; `event_shape`: what the steps' `event` has, nested fields included (None: its keys only);
    `vars_at`: the split arms' names surely set at each step (run_vars.vars_at_steps);
    `after_awaited`: the steps after a wait_for's event outcome (waited_event.after_an_awaited_event)."""
    named = all_var_names(definition)
    awaited = awaited_shape(definition)
    uses = [
        SendUse(
            ("steps", i, "send"),
            step.send,
            event_scope,
            step.id in measured_steps,
            event_shape,
            vars_set=named if vars_at is None else vars_at.get(step.id, frozenset()),
            vars_named=named,
            # a cohort run waits once for all its members: it has no one event per member to quote
            after_awaited=definition.cohort is None and (after_awaited is None or step.id in after_awaited),
            awaited=awaited,
        )
        for i, step in enumerate(definition.steps)
        if isinstance(step, SendStep)
    ]
    if definition.cohort is not None:
        # a notice's `event` is the run's event, whose fields the `updates` types replace
        updated = [event_fields(update) for update in definition.cohort.updates]
        fields = event_scope
        for update_fields in updated:
            fields = None if fields is None or update_fields is None else fields | update_fields
        for j, notice in enumerate(definition.cohort.on_update):
            uses.append(SendUse(("cohort", "on_update", j, "send"), notice.send, fields, False))
    return uses


def check_templates(
    uses: list[SendUse], positions: Positions, templates_dir: Path, customer: Shape | None = None
) -> Iterator[JourneyError]:
    """Each template exists in English, compiles, has its subject line (email), and reads only what
    its messages have; `customer`: what customers have (None: any attribute)."""
    for use in uses:
        path: DataPath = (*use.path, "template")
        name = use.send.template
        for channel in dict.fromkeys(use.send.channels):
            if not template_exists(templates_dir, channel, name, "en"):
                yield positions.error(
                    path,
                    f"no {channel} template `{name}` in English",
                    f"create {templates_dir / channel / 'en' / (name + '.j2')}",
                )
            for locale in template_locales(templates_dir, channel, name):
                where = f"{channel}/{locale}/{name}"
                too_big = _oversized(templates_dir, template_path(channel, name, locale))
                if too_big is not None:  # refused before its parse, which a big file makes slow
                    yield positions.error(path, str(too_big), too_big.hint)
                    continue
                yield from _check_variables(positions, path, templates_dir, where, use, customer)
                if channel in SUBJECT_CHANNELS_REQUIRED:
                    yield from _check_subject(positions, path, templates_dir, channel, name, locale)


def _oversized(templates_dir: Path, name: str) -> PinProblem | None:
    try:
        return oversized(name, (templates_dir / name).stat().st_size)
    except OSError:  # gone meanwhile: the checks after this one say so
        return None


# Email needs a subject (the send fails without one); a push notification's title is its subject.
SUBJECT_CHANNELS_REQUIRED = ("email",)
_JINJA_TAGS = re.compile(r"\{#.*?#\}|\{%.*?%\}", re.DOTALL)


def _check_subject(
    positions: Positions, path: DataPath, templates_dir: Path, channel: str, name: str, locale: str
) -> Iterator[JourneyError]:
    """The first line a rendering gives (after `Purpose:`, comments and `{% set %}`s) is `Subject:`."""
    relative = template_path(channel, name, locale)
    try:
        source = read_text(templates_dir / relative)  # a byte-order mark is no first character
    except (OSError, NotUtf8):
        return  # reported by the variables' check
    _, text = split_purpose(source)
    first = _JINJA_TAGS.sub("", text).lstrip().partition("\n")[0]
    if not first.startswith(SUBJECT_PREFIX):
        yield positions.error(
            path,
            f"template {relative} has no subject line: an email's first line is `{SUBJECT_PREFIX} ...`",
            f"start {templates_dir / relative} with e.g. `{SUBJECT_PREFIX} Your bill is heading higher`",
        )


def locale_warnings(
    uses: list[SendUse], positions: Positions, templates_dir: Path, locales: list[str]
) -> Iterator[JourneyError]:
    """A configured locale without the template: its customers get the English one (a warning)."""
    for use in uses:
        path: DataPath = (*use.path, "template")
        name = use.send.template
        for channel in dict.fromkeys(use.send.channels):
            present = template_locales(templates_dir, channel, name)
            if "en" not in present:
                continue  # an error already
            for locale in locales:
                if locale not in present:
                    missing = templates_dir / template_path(channel, name, locale)
                    yield positions.error(
                        path,
                        f"warning: no {channel} template `{name}` in `{locale}`: customers whose locale is "
                        f"{locale} get the English one",
                        f"create {missing}",
                    )


def _check_variables(
    positions: Positions,
    path: DataPath,
    templates_dir: Path,
    where: str,
    use: SendUse,
    customer: Shape | None,
) -> Iterator[JourneyError]:
    channel, locale, name = where.split("/")
    where += ".j2"
    try:
        used = template_reads(templates_dir, channel, name, locale)
    except TemplateProblem as problem:
        if problem.unreadable:
            hint = (
                f"save {templates_dir / where} as UTF-8 (in most editors: Save with Encoding, UTF-8)"
                if "UTF-8" in problem.reason
                else f"remove it from {templates_dir / where}"
            )
            yield positions.error(path, f"template {problem.where}: {problem.reason}", hint)
        else:
            message = f"template {problem.where or where} does not compile: {problem.reason}"
            yield positions.error(path, message, "fix the Jinja syntax")
        return
    fields = use.event_fields
    file = where
    for variable in sorted(used):
        where = f"{file}:{used[variable]}"  # the line of the template that reads it
        root, _, rest = variable.partition(".")
        field = rest.split(".")[0]
        if root == "performance":
            if not use.performance:
                yield positions.error(
                    path,
                    f"template {where} uses `performance`, which only messages after a "
                    "`dr_performance` step have",
                    "put a `dr_performance` step before this send (cohort mode, DR events), or use "
                    "another template",
                )
            elif field and field not in PERFORMANCE_FIELDS:
                yield positions.error(
                    path,
                    f"template {where} uses `{variable}`",
                    did_you_mean(field, PERFORMANCE_FIELDS, "performance fields"),
                )
        elif root == RUN_VARS:
            yield from _check_run_var(positions, path, where, variable, field, use)
        elif root == WAITED_EVENT:
            yield from _check_waited_event(positions, path, where, variable, use)
        elif root not in TEMPLATE_NAMES:
            names = (*TEMPLATE_NAMES, "performance") if use.performance else TEMPLATE_NAMES
            names = (*names, RUN_VARS) if use.vars_named else names
            names = (*names, WAITED_EVENT) if use.after_awaited else names
            yield positions.error(
                path,
                f"template {where} uses `{root}`, which messages do not have",
                did_you_mean(root, names, "templates can use"),
            )
        elif root == "customer" and field and customer is not None:
            unknown = field_problem(variable.split("."), customer)
            if unknown is not None:
                yield positions.error(path, f"template {where} uses `{variable}`: {unknown}", CUSTOMER_HINT)
        elif root == "event" and field and fields is not None and field not in fields:
            yield positions.error(
                path,
                f"template {where} uses `{variable}`, which the trigger event does not have",
                did_you_mean(field, fields, "event fields"),
            )
        elif root == "event" and field and use.event_shape is not None:
            unknown = field_problem(variable.split("."), use.event_shape)
            if unknown is not None:
                yield positions.error(path, f"template {where} uses `{variable}`: {unknown}", CUSTOMER_HINT)
        elif root == "journey" and field and field not in JOURNEY_FIELDS:
            yield positions.error(
                path,
                f"template {where} uses `{variable}`",
                did_you_mean(field, JOURNEY_FIELDS, "journey fields"),
            )


def _check_run_var(
    positions: Positions, path: DataPath, where: str, variable: str, field: str, use: SendUse
) -> Iterator[JourneyError]:
    """`vars.<name>`: set by some split arm, and on every way to this send."""
    if not use.vars_named:
        yield positions.error(
            path,
            f"template {where} uses `{RUN_VARS}`, but no split arm of the journey sets them",
            'give a split\'s arms their values, e.g. `vars: {subject: "Save on your bill"}` on each arm',
        )
    elif field and field not in use.vars_named:
        yield positions.error(
            path,
            f"template {where} uses `{variable}`, which no split arm sets",
            did_you_mean(field, use.vars_named, "split arms set"),
        )
    elif field and field not in use.vars_set:
        yield positions.error(
            path,
            f"template {where} uses `{variable}`, but not every way to this send passes a split arm "
            f"that sets `{field}`",
            "send this template only after the split whose arms set it (or set it on every split before)",
        )


def _check_waited_event(
    positions: Positions, path: DataPath, where: str, variable: str, use: SendUse
) -> Iterator[JourneyError]:
    """`waited_event.<field>`: after a wait_for's event outcome, a field the awaited events have."""
    if not use.after_awaited:
        yield positions.error(
            path,
            f"template {where} uses `{WAITED_EVENT}`, but not every way to this send passes the event "
            "outcome of a `wait_for` (after a timeout there is no waited event)",
            "send this template from the `on_event` step of a wait_for (per_customer journeys only; "
            "in cohort mode `event` has the fields the `cohort.updates` events bring)",
        )
    elif use.awaited is not None:
        unknown = field_problem(variable.split("."), use.awaited)
        if unknown is not None:
            yield positions.error(path, f"template {where} uses `{variable}`: {unknown}", EVENT_FIELDS_HINT)


def check_safety_templates(
    definition: JourneyDefinition, uses: list[SendUse], positions: Positions, templates_dir: Path
) -> Iterator[JourneyError]:
    """`purpose: safety` skips consent (activities/eligibility.py), so it may send safety content only."""
    if definition.purpose != "safety":
        return
    for use in uses:
        path: DataPath = (*use.path, "template")
        name = use.send.template
        for channel in dict.fromkeys(use.send.channels):
            for locale in template_locales(templates_dir, channel, name):
                where = f"{channel}/{locale}/{name}.j2"
                try:
                    declared = template_purpose(templates_dir, channel, name, locale)
                except TemplateProblem as problem:
                    yield positions.error(path, str(problem), "fix the template's first line")
                    continue
                if declared != "safety":
                    yield positions.error(
                        path,
                        f"purpose `safety` needs safety templates; template {where} is not marked "
                        "safety (its first line would be `Purpose: safety`)",
                        SAFETY_HINT,
                    )
