"""Rendering a journey's messages with sample values: `journeys validate` warns about SMS segment
counts (counted by gridjourney/content/sms.py), `journeys preview` shows every message in every locale.
Sample values (content/preview_samples.py) are deliberately on the long side (four-digit amounts, a
long name) so a template that fits here fits for real customers too."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridjourney.content.preview_samples import declared_sample, fire_sample
from gridjourney.content.preview_samples import (
    sample_event as sample_event,  # tests and callers import it here
)
from gridjourney.content.render import (
    TemplateProblem,
    render,
    template_locales,
    template_path,
)
from gridjourney.content.sms import sms_segments
from gridjourney.content.template_reads import template_variables
from gridjourney.dsl.schedule import SCHEDULE_EVENT
from gridjourney.dsl.schema import JourneyDefinition, SendStep, SplitStep, WaitForStep
from gridjourney.dsl.vocabulary import CustomerAttributes
from gridjourney.events.types import known_event_types

MAX_SEGMENTS = 2
OPT_OUT_WORDS = ("STOP",)


@dataclass(frozen=True)
class SmsPreview:
    template_path: str
    encoding: str
    segments: int
    warning: str | None


def sample_context(event_type: str, journey_id: str, locale: str) -> dict[str, Any]:
    customer = {
        "customer_id": "C-000000123",
        "name": "Alexandra Rodriguez",
        "locale": locale,
        "time_zone": "America/Los_Angeles",
    }
    return {
        "customer": customer,
        "event": sample_event(event_type),
        "journey": {"id": journey_id, "version": 1},
    }


def preview_sms(
    templates_dir: Path, template: str, event_type: str, journey_id: str, *, marketing: bool
) -> list[SmsPreview]:
    """One preview per locale of an SMS template; `warning` says what a marketer should fix."""
    previews = []
    for locale in template_locales(templates_dir, "sms", template):
        where = f"sms/{locale}/{template}.j2"
        try:
            message = render(
                templates_dir, "sms", template, locale, sample_context(event_type, journey_id, locale)
            )
        except TemplateProblem as problem:
            previews.append(SmsPreview(where, "?", 0, f"could not render with sample values: {problem}"))
            continue
        encoding, segments = sms_segments(message.body)
        warning = None
        if segments > MAX_SEGMENTS:
            extra = (
                "; a character outside GSM-7 (such as á, í, ó, ú) makes it UCS-2"
                if encoding == "UCS-2"
                else ""
            )
            warning = f"{segments} segments ({encoding}, {len(message.body)} characters){extra}"
        elif marketing and not any(word in message.body for word in OPT_OUT_WORDS):
            warning = 'marketing texts must say how to opt out, e.g. "Reply STOP to opt out"'
        previews.append(SmsPreview(where, encoding, segments, warning))
    return previews


# --- the whole journey: every message a marketer can get, in every locale ------------------------
@dataclass(frozen=True)
class SendUse:
    """A send of the journey: a step, or a cohort update notice (step id `on_update:<event>`)."""

    step_id: str
    channels: tuple[str, ...]
    template: str
    event_type: str  # what `event` is in its templates


@dataclass(frozen=True)
class MessagePreview:
    step_id: str
    channel: str
    template: str
    locale: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    url: str | None = None
    encoding: str | None = None  # SMS only
    segments: int | None = None  # SMS only
    problem: str | None = None  # could not render: the rest is None
    variant: str | None = None  # the split arm's `vars` it was rendered with (an A/B test)


def send_uses(definition: JourneyDefinition) -> list[SendUse]:
    trigger = definition.trigger[0].event
    uses = [
        SendUse(step.id, tuple(step.send.channels), step.send.template, trigger)
        for step in definition.steps
        if isinstance(step, SendStep)
    ]
    if definition.cohort is not None:
        uses += [
            SendUse(f"on_update:{n.event}", tuple(n.send.channels), n.send.template, trigger)
            for n in definition.cohort.on_update
        ]
    return uses


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target.setdefault(path[-1], value)


def generated_customer(
    templates_dir: Path, uses: list[SendUse], declared: CustomerAttributes | None = None
) -> dict[str, Any]:
    """The sample customer: every declared attribute, segment and score (customer_attributes.yaml)
    with a value of its type (a string's first allowed value), and every other `customer.*` path the
    journey's templates read with a placeholder naming it, so no message fails on a missing value."""
    customer: dict[str, Any] = {
        "customer_id": "C-000000123",
        "name": "Alexandra Rodriguez",
        "time_zone": "America/Los_Angeles",
    }
    if declared is not None:
        customer |= {name: declared_sample(name, spec) for name, spec in declared.attributes.items()}
        if declared.segments:
            customer["segment"] = declared.segments[0]
        customer["scores"] = {name: declared_sample(name, spec) for name, spec in declared.scores.items()}
    for use in uses:
        for channel in use.channels:
            for locale in template_locales(templates_dir, channel, use.template):
                try:
                    read = template_variables(templates_dir, channel, use.template, locale)
                except TemplateProblem:
                    continue  # reported when the message is rendered
                for path in sorted(read):
                    parts = path.split(".")
                    if parts[0] == "customer" and len(parts) > 1:
                        _set_path(customer, parts[1:], parts[-1].upper())
    return customer


def arm_variants(definition: JourneyDefinition) -> list[dict[str, Any]]:
    """The distinct `vars` of the journey's split arms, in file order: each is one version of the
    messages that read `vars` (an A/B test of a subject line)."""
    variants: list[dict[str, Any]] = []
    for step in definition.steps:
        if isinstance(step, SplitStep):
            for arm in step.split:
                if arm.vars and arm.vars not in variants:
                    variants.append(dict(arm.vars))
    return variants


def waited_sample(definition: JourneyDefinition) -> dict[str, Any] | None:
    """A sample of the first event a `wait_for` step awaits: what `waited_event` is in templates."""
    for step in definition.steps:
        if isinstance(step, WaitForStep):
            awaited = step.wait_for.event
            return sample_event(awaited) if awaited in known_event_types() else {"type": awaited}
    return None


def preview_journey(
    definition: JourneyDefinition,
    templates_dir: Path,
    customer: dict[str, Any],
    *,
    zone: str | None = None,
    now: datetime | None = None,
) -> list[MessagePreview]:
    """Every message of every send, on each of its channels, in each locale that has the template,
    and once per split arm's `vars` when the template reads them. `customer` is the sample customer;
    its `locale` is replaced by each one in turn. A scheduled journey's `event` is its next fire after
    `now` in `zone` (default: the utility's, dsl/schedule_checks.py)."""
    previews = []
    variants, waited = arm_variants(definition), waited_sample(definition)
    for use in send_uses(definition):
        known = use.event_type in known_event_types() or use.event_type == SCHEDULE_EVENT
        event = sample_event(use.event_type) if known else {"type": use.event_type}
        if use.event_type == SCHEDULE_EVENT:
            event = _next_fire(definition, zone, now) or event
        for channel in use.channels:
            locales = template_locales(templates_dir, channel, use.template)
            if not locales:
                problem = f"no template {template_path(channel, use.template, 'en')}"
                previews.append(MessagePreview(use.step_id, channel, use.template, "-", problem=problem))
            for locale in locales:
                context: dict[str, Any] = {
                    "customer": {**customer, "locale": locale},
                    "event": event,
                    "journey": {"id": definition.id, "version": 1},
                }
                if waited is not None:
                    context["waited_event"] = waited
                for variant in _variants_read(templates_dir, use, channel, locale, variants):
                    one = _one(templates_dir, use, channel, locale, {**context, "vars": variant or {}})
                    if variant is not None:
                        label = ", ".join(f"{name}={value!r}" for name, value in variant.items())
                        one = replace(one, variant=label)
                    previews.append(one)
    return previews


def _next_fire(
    definition: JourneyDefinition, zone: str | None, now: datetime | None
) -> dict[str, Any] | None:
    if zone is None:
        from gridjourney.dsl.schedule_checks import utility_zone  # reads the policy file

        zone = utility_zone()
    return fire_sample(definition, zone, now or datetime.now(UTC))


def _variants_read(
    templates_dir: Path, use: SendUse, channel: str, locale: str, variants: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """One rendering per arm's `vars` if the template reads `vars`; else one, without."""
    if not variants:
        return [None]
    try:
        read = template_variables(templates_dir, channel, use.template, locale)
    except TemplateProblem:
        return [None]  # reported when the message is rendered
    return list(variants) if any(path.split(".")[0] == "vars" for path in read) else [None]


def _one(
    templates_dir: Path, use: SendUse, channel: str, locale: str, context: dict[str, Any]
) -> MessagePreview:
    try:
        message = render(templates_dir, channel, use.template, locale, context)
    except TemplateProblem as problem:
        return MessagePreview(use.step_id, channel, use.template, locale, problem=str(problem))
    encoding, segments = sms_segments(message.body) if channel == "sms" else (None, None)
    return MessagePreview(
        use.step_id,
        channel,
        use.template,
        locale,
        subject=message.subject,
        text=message.body,
        html=message.html,
        url=message.url,
        encoding=encoding,
        segments=segments,
    )


def html_file_name(preview: MessagePreview) -> str:
    name = f"{preview.step_id.replace(':', '_')}.{preview.template}.{preview.locale}"
    if preview.variant is not None:  # one file per arm of an A/B test
        name += "." + re.sub(r"[^A-Za-z0-9]+", "_", preview.variant).strip("_")[:60]
    return f"{name}.html"


def preview_text(preview: MessagePreview) -> str:
    """One message as `journeys preview` prints it."""
    head = f"== {preview.step_id} · {preview.channel} · {preview.template} · {preview.locale}"
    if preview.variant is not None:
        head += f" · vars: {preview.variant}"
    if preview.problem is not None:
        return f"{head}\n   cannot render: {preview.problem}"
    lines = [head]
    if preview.encoding is not None:
        assert preview.text is not None
        lines.append(f"   {preview.encoding}, {preview.segments} segment(s), {len(preview.text)} characters")
    if preview.subject is not None:
        lines.append(f"   Subject: {preview.subject}")
    if preview.url is not None:
        lines.append(f"   URL: {preview.url}")
    lines += [f"   | {line}" for line in (preview.text or "").splitlines()]
    return "\n".join(lines)
