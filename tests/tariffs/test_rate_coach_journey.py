"""The shipped rate_coach journey: it validates against the templates, starts when the tariff scores
say a switch saves $60 a year or more (not at $59), counts a switch to that tariff as its goal, and
its messages render in English and Spanish from the scores the daily scoring writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridjourney.content import render
from gridjourney.content.preview import preview_sms, sample_context
from gridjourney.dsl.compiler import check_journey, compile_journey, content_hash
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import CompiledJourney, SendStep
from gridjourney.router.matching import holds, triggered_journeys
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.decisions import event_namespace

ROOT = Path(__file__).resolve().parents[2]
JOURNEY = ROOT / "journeys" / "rate_coach.yaml"
TEMPLATES = ROOT / "templates"
SCORES = {
    "best_tariff": "residential_tou",
    "best_tariff_name": "Time of Use 4-9 PM",
    "best_tariff_savings": 187.72,
    "tariff_year_scaled": False,
    "peak_shift_kwh": 555.4,
    "peak_shift_tariff": "residential_tou",
    "peak_shift_tariff_name": "Time of Use 4-9 PM",
    "peak_shift_savings": 60.0,
}


@pytest.fixture(scope="module")
def journey() -> CompiledJourney:
    text = JOURNEY.read_text()
    loaded = load_journey_with_positions(text, str(JOURNEY))
    assert check_journey(loaded.definition, loaded.positions, TEMPLATES) == []
    return compile_journey(
        loaded.definition, version=1, content_hash=content_hash(text, str(JOURNEY)), templates_dir=TEMPLATES
    )


def updated(attributes: dict[str, Any]) -> EventRef:
    return EventRef(
        event_id="e-1",
        type="customer.updated",
        customer_id="c-1",
        occurred_at=datetime(2026, 11, 30, 8, tzinfo=UTC),
        payload={"attributes": attributes},
        position=1,
    )


def test_a_marketing_journey_of_a_text_then_an_email(journey: CompiledJourney) -> None:
    definition = journey.definition
    assert (definition.id, definition.purpose) == ("rate_coach", "marketing")
    sends = [step.send for step in definition.steps if isinstance(step, SendStep)]
    assert [(s.channels, s.template) for s in sends] == [(["sms"], "rate_coach"), (["email"], "rate_coach")]


@pytest.mark.parametrize(("savings", "starts"), [(60.0, True), (59.99, False), (59.0, False), (230.5, True)])
def test_the_trigger_fires_from_60_a_year(journey: CompiledJourney, savings: float, starts: bool) -> None:
    event = updated({"scores": {**SCORES, "best_tariff_savings": savings}})
    assert (triggered_journeys(event, [journey], {}) == [journey]) is starts


def test_updates_without_tariff_scores_do_not_start_it(journey: CompiledJourney) -> None:
    assert triggered_journeys(updated({"scores": {"dr_propensity": 0.8}}), [journey], {}) == []
    assert triggered_journeys(updated({"segment": "ev"}), [journey], {}) == []


def test_the_goal_is_a_switch_to_the_offered_tariff(journey: CompiledJourney) -> None:
    goal = journey.definition.goal
    assert goal is not None and goal.when is not None and goal.event == "customer.updated"
    trigger = updated({"scores": SCORES})
    switched = event_namespace(journey, trigger, {}, updated({"tariff": "residential_tou"}))
    elsewhere = event_namespace(journey, trigger, {}, updated({"tariff": "residential_tiered"}))
    assert holds(goal.when, switched) and not holds(goal.when, elsewhere)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_messages_render_the_scores(locale: str) -> None:
    context = sample_context("customer.updated", "rate_coach", locale)
    context["event"]["attributes"] = {"scores": SCORES}
    sms = render(TEMPLATES, "sms", "rate_coach", locale, context)
    email = render(TEMPLATES, "email", "rate_coach", locale, context)
    assert "$187.72" in sms.body and "Time of Use 4-9 PM" in sms.body and "STOP" in sms.body
    assert email.subject is not None and "$187.72" in email.subject
    assert "46 kWh" in email.body  # 555.4 kWh a year / 12, rounded
    without_shift = {**SCORES, "peak_shift_kwh": None, "peak_shift_tariff_name": None}
    context["event"]["attributes"] = {"scores": without_shift}
    assert "kWh" not in render(TEMPLATES, "email", "rate_coach", locale, context).body
    previews = preview_sms(TEMPLATES, "rate_coach", "customer.updated", "rate_coach", marketing=True)
    assert [(p.encoding, p.segments, p.warning) for p in previews] == [("GSM-7", 2, None)] * 2
