"""Journeys checked against the declared vocabulary (customer_attributes.yaml, events/*.yaml): every
unknown name is an error at its position with a "did you mean", in the marketer's words, and every
bad arm is reported, not only the first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.dsl.compiler import check_journey, journey_warnings
from gridjourney.dsl.declarations import DeclarationErrors
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions
from gridjourney.dsl.vocabulary import customer_attributes, load_customer_attributes
from gridjourney.events.types import validate_payload
from gridjourney.router.matching import triggered_journeys
from tests.workflows.standins import compiled, event

SHIPPED = Path(__file__).parents[2] / "customer_attributes.yaml"
# Lines 1-4; steps start on line 5.
HEAD = """\
id: payment_reminder
purpose: informational
trigger: {event: bill.past_due, when: "event.days_past_due >= 5"}
steps:
"""


def check(text: str, templates: Path | None = None) -> list[JourneyError]:
    loaded = load_journey_with_positions(text, "j.yaml")
    return check_journey(loaded.definition, loaded.positions, templates)


def located(errors: list[JourneyError]) -> list[str]:
    return [str(error) for error in errors]


def test_the_shipped_declarations_are_in_use() -> None:
    declared = customer_attributes()
    assert declared is not None and declared == load_customer_attributes(SHIPPED)
    assert "evening_peak" in declared.segments and "dr_propensity" in declared.scores
    assert declared.attributes["heating"].values == ["electric", "gas", "heat_pump", "oil", "other"]


@pytest.mark.parametrize(
    ("when", "culprit", "message"),
    [
        (
            "customer.segmnet == 'flat'",
            "segmnet",
            "`customer` has no field `segmnet`; did you mean `segment`? its attributes: alerts_signed_up,",
        ),
        (
            "customer.first_name == 'Ana'",
            "first_name",
            "`customer` has no field `first_name`: write `customer.name`",
        ),
        (
            "customer.scores.best_tariff_saving > 60",
            "best_tariff_saving",
            "`customer.scores` has no field `best_tariff_saving`; did you mean `best_tariff_savings`?",
        ),
        (
            "customer.segment in ['evening_peak', 'ev_charge']",
            "'ev_charge'",
            "`customer.segment` is never 'ev_charge'; did you mean `ev_charging`? its values: ev_charging,",
        ),
        (
            "customer.heating == 'electrc'",
            "'electrc'",
            "`customer.heating` is never 'electrc'; did you mean `electric`?",
        ),
        (
            "event.ammount > 100",
            "ammount",
            "`event` has no field `ammount`; did you mean `amount_due`? its fields:",
        ),
        ("customer.tariff.name", "name", "`customer.tariff` is a single value: it has no field `name`"),
        ("event.hardship == true", "true", "unknown name `true`: write `True`"),
    ],
)
def test_an_unknown_name_is_an_error_at_it_with_a_did_you_mean(when: str, culprit: str, message: str) -> None:
    errors = check(HEAD + f'  - {{id: route, branch: [{{when: "{when}", goto: end}}]}}\n')
    # the expression's opening quote is at column 33
    assert [(e.line, e.column) for e in errors] == [(5, 34 + when.index(culprit))], located(errors)
    assert message in errors[0].message


def test_declared_names_pass_and_update_steps_declare_theirs() -> None:
    steps = """\
  - {id: mark, update: {attribute: reminded_at_day, value: 5}}
  - id: route
    branch:
      - when: "customer.segment == 'evening_peak' and customer.scores.dr_propensity > 0.6"
        goto: end
      - when: "event.hardship and customer.heating == 'electric' and customer.reminded_at_day == 5"
        goto: end
"""
    assert check(HEAD + steps) == []


def test_every_bad_arm_is_reported() -> None:
    steps = """\
  - id: route
    branch:
      - {when: "customer.segmnet == 'flat'", goto: test}
      - {when: "event.days_late > 3", goto: test}
  - id: test
    split:
      - {weight: 50%, goto: end}
      - {weight: 50%, goto: end}
"""
    with pytest.raises(JourneyErrors) as refused:
        check(HEAD + steps)
    assert [(e.line, e.column, e.hint) for e in refused.value.errors] == [
        (11, 18, "write 50 (weights are relative: 50 and 50 split evenly)"),
        (12, 18, "write 50 (weights are relative: 50 and 50 split evenly)"),
    ]
    errors = check(HEAD + steps.replace("50%", "50"))
    assert [(e.line, e.column) for e in errors] == [(7, 26), (8, 23)]


def test_a_holdout_percentage_gets_its_share() -> None:
    with pytest.raises(JourneyErrors) as refused:
        check(HEAD.replace("steps:", "entry: {holdout: 5%}\nsteps:") + "  - {id: a, wait: 1d}\n")
    assert refused.value.errors[0].hint == "write 0.05 (a share between 0 and 1: 5% is 0.05)"


WAIT = "  - {id: a, wait: 1d}\n"


def triggered_by(event_type: str) -> str:
    return HEAD.replace("bill.past_due", event_type).replace(', when: "event.days_past_due >= 5"', "") + WAIT


@pytest.mark.parametrize("trigger", ["journey.entered", "message.sent"])
def test_engine_events_as_triggers_are_refused_with_a_hint(trigger: str) -> None:
    errors = check(triggered_by(trigger))
    assert located(errors) == [
        f"j.yaml:3:18: `{trigger}` never reaches a journey (hint: journey.*, message.*, suppression.* and "
        "push.* events are the engine's own records: the router never hands them to journeys (a journey "
        "reacting to its own bookkeeping could loop). To follow another journey, trigger on the event that "
        "journey reacts to, or add a step to it)"
    ]


def test_an_undeclared_type_far_from_the_known_ones_is_to_be_declared() -> None:
    far = check(triggered_by("bill.overdue_notice"))
    assert [e.hint for e in far] == [
        "declare a new event type in events/*.yaml (see gridjourney/events/declared.py)"
    ]
    close = check(triggered_by("bill.past_dues"))
    assert [e.hint for e in close] == [
        "did you mean `bill.past_due`? or declare a new event type in events/*.yaml (see "
        "gridjourney/events/declared.py)"
    ]


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    for channel, locale, name, body in [
        (
            "email",
            "en",
            "reminder",
            "{# why #}\n{% set due = event.amount_due %}\nSubject: {{ due }} due\nHi",
        ),
        ("email", "es", "reminder", "Hola {{ customer.first_name }}"),
        ("sms", "en", "reminder", "{{ customer.scores.churn }}"),
    ]:
        path = tmp_path / channel / locale / f"{name}.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return tmp_path


def test_templates_are_checked_for_subjects_and_customer_names(templates: Path) -> None:
    text = HEAD + "  - {id: remind, send: {channels: [email, sms], template: reminder}}\n"
    messages = [e.message for e in check(text, templates)]
    assert messages == [
        "template email/es/reminder.j2 has no subject line: an email's first line is `Subject: ...`",
        "template email/es/reminder.j2:1 uses `customer.first_name`: `customer` has no field `first_name`: "
        "write `customer.name`",
        "template sms/en/reminder.j2:1 uses `customer.scores.churn`: `customer.scores` has no field `churn`; "
        "did you mean `churn_risk`? its scores: best_tariff, best_tariff_name, best_tariff_savings, "
        "churn_risk, dr_propensity, dr_response, peak_shift_kwh, peak_shift_savings, peak_shift_tariff, "
        "peak_shift_tariff_name, tariff_year_scaled",
    ]


def test_a_missing_locale_is_a_warning_naming_the_file(templates: Path) -> None:
    loaded = load_journey_with_positions(
        HEAD + "  - {id: remind, send: {channels: [email, sms], template: reminder}}\n", "j.yaml"
    )
    warnings = journey_warnings(loaded.definition, loaded.positions, templates, ["en", "es"])
    assert located(warnings) == [
        "j.yaml:5:59: warning: no sms template `reminder` in `es`: customers whose locale is es get the "
        f"English one (hint: create {templates / 'sms' / 'es' / 'reminder.j2'})"
    ]


def test_mistakes_in_customer_attributes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "customer_attributes.yaml"
    path.write_text("attributes:\n  heating: {type: text}\nsegmens: [a]\n")
    with pytest.raises(DeclarationErrors) as refused:
        load_customer_attributes(path)
    assert [str(e) for e in refused.value.errors] == [
        f"{path}:2:19: attributes.heating.type: `text` is not allowed (hint: use one of: boolean, integer, "
        "list, number, object, string, timestamp)",
        f"{path}:3:1: unknown key `segmens` (hint: did you mean `segments`? keys: attributes, scores, "
        "segments)",
    ]
    assert load_customer_attributes(tmp_path / "none.yaml") is None


def test_validate_prints_the_warning_and_passes(tmp_path: Path) -> None:
    template = tmp_path / "templates" / "sms" / "en" / "reminder.j2"
    template.parent.mkdir(parents=True)
    template.write_text("{{ event.amount_due | money }} is {{ event.days_past_due }} days late")
    journey = tmp_path / "payment_reminder.yaml"
    journey.write_text(HEAD + "  - {id: remind, send: {channels: [sms], template: reminder}}\n")
    args = ["validate", str(journey), "--templates", str(tmp_path / "templates")]
    result = CliRunner().invoke(journeys_app, args)
    assert result.exit_code == 0, result.stderr
    missing = tmp_path / "templates" / "sms" / "es" / "reminder.j2"
    assert result.stderr.splitlines() == [
        f"{journey}:5:52: warning: no sms template `reminder` in `es`: customers whose locale is es get the "
        f"English one (hint: create {missing})"
    ]


def test_a_journey_on_a_declared_type_starts_from_its_stored_payload() -> None:
    journey = compiled(HEAD + "  - {id: a, wait: 1d}\n")
    fields = {"amount_due": 84.5, "due_date": "2025-11-01T00:00:00Z"}
    late = event("bill.past_due", "C-1", **validate_payload("bill.past_due", {**fields, "days_past_due": 6}))
    early = event("bill.past_due", "C-1", **validate_payload("bill.past_due", {**fields, "days_past_due": 2}))
    assert triggered_journeys(late, [journey], None) == [journey]
    assert triggered_journeys(early, [journey], None) == []


def test_templates_read_the_declared_attributes_an_update_event_carries(tmp_path: Path) -> None:
    template = tmp_path / "sms" / "en" / "coach.j2"
    template.parent.mkdir(parents=True)
    template.write_text("Save {{ event.attributes.scores.best_tariff_saving | money }} on {{ event.type }}")
    text = (
        "id: coach\npurpose: marketing\ntrigger: customer.updated\nsteps:\n"
        "  - {id: offer, send: {channels: [sms], template: coach}}\n"
    )
    assert [e.message for e in check(text, tmp_path)] == [
        "template sms/en/coach.j2:1 uses `event.attributes.scores.best_tariff_saving`: "
        "`event.attributes.scores` has no field `best_tariff_saving`; did you mean `best_tariff_savings`? "
        "its scores: best_tariff, best_tariff_name, best_tariff_savings, churn_risk, dr_propensity, "
        "dr_response, peak_shift_kwh, peak_shift_savings, peak_shift_tariff, peak_shift_tariff_name, "
        "tariff_year_scaled"
    ]
