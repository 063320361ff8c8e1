"""The push templates (templates/push/): a title, a page to open and a short body, in English and
Spanish, valid for every shipped journey step that sends their name once push is among its channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridjourney.channels.push import MAX_PLAINTEXT_BYTES
from gridjourney.content.preview import sample_context
from gridjourney.content.render import render, template_purpose
from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import JourneyDefinition

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
PUSH_TEMPLATES = sorted(path.stem for path in (TEMPLATES / "push" / "en").glob("*.j2"))
# The event each template is written for (the trigger of the journey that sends it).
TRIGGERS = {
    "outage_detected": "outage.detected",
    "outage_still_working": "outage.detected",
    "outage_restored": "outage.detected",
    "outage_etr_updated": "outage.etr_updated",
    "high_bill_alert": "bill.projection_updated",
    "dr_day_ahead": "dr.event_scheduled",
    "dr_reminder": "dr.event_scheduled",
    "dr_thank_you": "dr.event_scheduled",
    "dr_event_moved": "dr.event_scheduled",
    "dr_event_cancelled": "dr.event_scheduled",
    "usage_spike": "meter.anomaly_detected",
}
# Titles are cut by phones past about 50 characters, bodies past a few lines.
MAX_TITLE, MAX_BODY = 60, 240


def test_the_four_required_templates_exist_in_both_languages() -> None:
    required = {"outage_detected", "outage_restored", "high_bill_alert", "dr_day_ahead"}
    assert required <= set(PUSH_TEMPLATES)
    assert set(PUSH_TEMPLATES) == set(TRIGGERS)
    spanish = {path.stem for path in (TEMPLATES / "push" / "es").glob("*.j2")}
    assert spanish == set(PUSH_TEMPLATES)


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("template", PUSH_TEMPLATES)
def test_a_push_template_renders_a_title_a_url_and_a_short_body(template: str, locale: str) -> None:
    context = sample_context(TRIGGERS[template], "journey", locale)
    rendered = render(TEMPLATES, "push", template, locale, context)

    assert rendered.locale == locale
    assert rendered.subject and len(rendered.subject) <= MAX_TITLE, rendered.subject
    assert rendered.url is not None and rendered.url.startswith("https://cascadepower.com/")
    assert rendered.body and len(rendered.body) <= MAX_BODY, rendered.body
    assert "URL:" not in rendered.body and "Subject:" not in rendered.body
    payload = json.dumps({"title": rendered.subject, "body": rendered.body, "url": rendered.url})
    assert len(payload.encode()) <= MAX_PLAINTEXT_BYTES


@pytest.mark.parametrize("template", PUSH_TEMPLATES)
def test_outage_templates_are_marked_safety_and_the_others_are_not(template: str) -> None:
    expected = "safety" if template.startswith("outage_") else None
    assert template_purpose(TEMPLATES, "push", template, "en") == expected
    assert template_purpose(TEMPLATES, "push", template, "es") == expected


def with_push(definition: JourneyDefinition) -> tuple[JourneyDefinition, int]:
    """The journey with push among the channels of each step that has a push template (added after
    the first channel where the journey does not list it yet), and how many steps send on push."""
    document: dict[str, Any] = definition.model_dump(mode="json", exclude_unset=True)
    on_push = 0
    for step in document["steps"]:
        send = step.get("send")
        if send and send["template"] in PUSH_TEMPLATES:
            if "push" not in send["channels"]:
                send["channels"] = [send["channels"][0], "push", *send["channels"][1:]]
            on_push += 1
    return JourneyDefinition.model_validate(document), on_push


@pytest.mark.parametrize("journey", ["outage_notice", "high_bill_alert", "dr_event", "usage_spike"])
def test_shipped_journeys_compile_with_push_among_their_channels(journey: str) -> None:
    path = ROOT / "journeys" / f"{journey}.yaml"
    loaded = load_journey_with_positions(path.read_text(), str(path))
    definition, on_push = with_push(loaded.definition)
    assert on_push >= 1
    assert check_journey(definition, loaded.positions, TEMPLATES) == []
