"""The journeys in journeys/ validate cleanly against templates/, and their texts fit; dr_event and
outage_notice run in cohort mode."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gridjourney.content import render, sms_segments, template_purpose
from gridjourney.content.preview import preview_sms, sample_context
from gridjourney.dsl.compiler import check_journey, compile_journey, content_hash
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import (
    STEP_KINDS,
    CompiledJourney,
    DrPerformanceStep,
    JourneyDefinition,
    SendStep,
    WaitForStep,
)

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ROOT / "journeys"
TEMPLATES = ROOT / "templates"
NAMES = ["onboarding", "high_bill_alert", "dr_event", "outage_notice", "usage_spike", "rate_coach"]


def load(name: str) -> JourneyDefinition:
    path = JOURNEYS / f"{name}.yaml"
    loaded = load_journey_with_positions(path.read_text(), str(path))
    assert check_journey(loaded.definition, loaded.positions, TEMPLATES) == []
    return loaded.definition


@pytest.mark.parametrize("name", NAMES)
def test_journey_validates_cleanly(name: str) -> None:
    assert load(name).id == name


def test_every_step_kind_is_used() -> None:
    used = {kind for name in NAMES for step in load(name).steps for kind in STEP_KINDS if hasattr(step, kind)}
    assert used == set(STEP_KINDS)


@pytest.mark.parametrize("name", NAMES)
def test_every_send_has_english_and_spanish_and_fits_two_segments(name: str) -> None:
    definition = load(name)
    for step in definition.steps:
        if not isinstance(step, SendStep):
            continue
        for channel in step.send.channels:
            for locale in ("en", "es"):
                assert (TEMPLATES / channel / locale / f"{step.send.template}.j2").is_file()
        if "sms" in step.send.channels:
            previews = preview_sms(
                TEMPLATES, step.send.template, definition.trigger[0].event, definition.id, marketing=True
            )
            assert {p.template_path.split("/")[1] for p in previews} == {"en", "es"}
            for preview in previews:
                assert 1 <= preview.segments <= 2, preview
                if definition.purpose != "safety":
                    assert preview.warning is None, preview


def compiled(name: str) -> CompiledJourney:
    path = JOURNEYS / f"{name}.yaml"
    text = path.read_text()
    loaded = load_journey_with_positions(text, str(path))
    return compile_journey(
        loaded.definition, version=1, content_hash=content_hash(text, str(path)), templates_dir=TEMPLATES
    )


def kinds(journey: CompiledJourney) -> list[tuple[str, str]]:
    return [(step.id, next(k for k in STEP_KINDS if hasattr(step, k))) for step in journey.definition.steps]


def test_dr_event_is_a_cohort_journey_per_dr_event() -> None:
    journey = compiled("dr_event")
    definition, cohort = journey.definition, journey.definition.cohort
    assert definition.mode == "cohort" and cohort is not None
    assert [t.event for t in definition.trigger] == ["dr.event_scheduled"]
    assert cohort.key == "event.dr_event_id" and cohort.updates == ["dr.event_modified"]
    assert cohort.audience.program == "event.program" and cohort.audience.holdout == 0.1
    assert cohort.audience.target is not None and cohort.audience.target.kw == "event.target_kw"
    assert definition.exit_on == ["dr.event_cancelled"]
    assert kinds(journey) == [
        ("day_ahead_notice", "send"),
        ("until_an_hour_before", "wait"),
        ("reminder", "send"),
        ("until_the_end", "wait"),
        ("measure", "dr_performance"),
        ("thank_you", "send"),
    ]
    measure = journey.step("measure")
    assert isinstance(measure, DrPerformanceStep)
    assert measure.dr_performance.credit_per_kwh == 0.5
    assert measure.dr_performance.wait_for_reads == timedelta(days=3)


def test_outage_notice_is_a_cohort_journey_per_incident() -> None:
    journey = compiled("outage_notice")
    definition, cohort = journey.definition, journey.definition.cohort
    assert definition.mode == "cohort" and definition.purpose == "safety" and cohort is not None
    assert cohort.key == "event.incident_id" and cohort.audience.grid
    assert cohort.updates == ["outage.etr_updated"]  # the notices show the new event.etr
    assert kinds(journey) == [
        ("hold", "wait_for"),
        ("notice", "send"),
        ("await_restoration", "wait_for"),
        ("still_working", "send"),
        ("await_restoration_later", "wait_for"),
        ("restored", "send"),
    ]
    hold = journey.step("hold")
    assert isinstance(hold, WaitForStep)
    assert (hold.wait_for.event, hold.wait_for.timeout) == ("outage.restored", timedelta(minutes=5))
    assert (hold.wait_for.on_event, hold.wait_for.on_timeout) == ("end", "notice")
    [notice] = cohort.on_update
    assert notice.event == "outage.etr_updated" and notice.send.template == "outage_etr_updated"
    assert notice.at_steps == ["await_restoration", "still_working", "await_restoration_later"]
    assert notice.moved_by is not None and notice.moved_by.field == "etr"
    assert notice.moved_by.more_than == timedelta(minutes=30)
    assert notice.at_most_every == timedelta(hours=1)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_update_notice_has_its_templates(locale: str) -> None:
    cohort = load("outage_notice").cohort
    assert cohort is not None
    for notice in cohort.on_update:
        for channel in notice.send.channels:
            assert template_purpose(TEMPLATES, channel, notice.send.template, locale) == "safety"
        if "sms" in notice.send.channels:
            [preview] = [
                p
                for p in preview_sms(
                    TEMPLATES, notice.send.template, notice.event, "outage_notice", marketing=False
                )
                if p.template_path.startswith(f"sms/{locale}/")
            ]
            assert preview.warning is None and 1 <= preview.segments <= 2, preview


def thank_you(channel: str, locale: str, performance: dict[str, Any] | None) -> str:
    context = sample_context("dr.event_scheduled", "dr_event", locale)
    if performance is not None:
        context["performance"] = performance
    return render(TEMPLATES, channel, "dr_thank_you", locale, context).body


def test_the_thank_you_says_what_a_responder_saved() -> None:
    responder = {"known": True, "kwh_saved": 2.3, "credit": 1.15, "responded": True}
    assert "you saved 2.3 kWh, a $1.15 credit" in thank_you("sms", "en", responder)
    assert "You saved 2.3 kWh, a $1.15 credit" in thank_you("push", "en", responder)
    assert "you saved 2.3 kWh during the event, a $1.15 credit" in thank_you("email", "en", responder)
    assert "2.3 kWh, un descuento de $1.15" in thank_you("sms", "es", responder)
    assert sms_segments(thank_you("sms", "es", responder)) == ("GSM-7", 2)


@pytest.mark.parametrize(
    "performance",
    [
        {"known": True, "kwh_saved": 0.0, "credit": 0.0, "responded": False},
        {"known": False, "kwh_saved": None, "credit": None, "responded": None},
        None,
    ],
)
@pytest.mark.parametrize(
    ("channel", "locale"), [(c, loc) for c in ("sms", "push", "email") for loc in ("en", "es")]
)
def test_the_thank_you_gives_others_one_tip(
    channel: str, locale: str, performance: dict[str, Any] | None
) -> None:
    body = thank_you(channel, locale, performance)
    assert "kWh" not in body and ("Tip" in body or "tip" in body or "onsejo" in body), body


@pytest.mark.parametrize(
    ("locale", "ending"),
    [("en", "Reply OUT if you still have no power."), ("es", "Responda OUT si sigue sin luz.")],
)
def test_the_restored_text_offers_the_out_reply(locale: str, ending: str) -> None:
    context = sample_context("outage.detected", "outage_notice", locale)
    assert render(TEMPLATES, "sms", "outage_restored", locale, context).body.endswith(ending)
