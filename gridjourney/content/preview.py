"""Rendering a journey's SMS templates with sample values, to warn about segment counts (counted by
gridjourney/content/sms.py) before publishing. Sample values are deliberately on the long side (a
four-digit amount, a long name) so a template that fits here fits for real customers too."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gridjourney.content.render import TemplateProblem, render, template_locales
from gridjourney.content.sms import sms_segments
from gridjourney.events.types import EVENT_TYPES

MAX_SEGMENTS = 2
SAMPLE_TIME = "2026-07-14T22:00:00+00:00"
OPT_OUT_WORDS = ("STOP",)


@dataclass(frozen=True)
class SmsPreview:
    template_path: str
    encoding: str
    segments: int
    warning: str | None


def _sample(annotation: Any, name: str) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:  # constrained types: sample the base type
        return _sample(typing.get_args(annotation)[0], name)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _sample(options[0], name) if options else None
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)[0]
    if annotation is bool:
        return True
    if annotation is int:
        return 30
    if annotation is float:
        return 1234.56
    # pydantic's AwareDatetime & co. are marker classes, not datetime subclasses
    if annotation is datetime or getattr(annotation, "__name__", "").endswith("Datetime"):
        return SAMPLE_TIME
    if typing.get_origin(annotation) in (list, dict):
        return typing.get_origin(annotation)()
    return f"{name.upper()}-0001"


def sample_event(event_type: str) -> dict[str, Any]:
    """The event as templates see it, with sample values for every payload field."""
    model = EVENT_TYPES[event_type]
    payload = {name: _sample(field.annotation, name) for name, field in model.model_fields.items()}
    return {**payload, "type": event_type, "occurred_at": SAMPLE_TIME}


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
