"""Templates of cohort journeys: update notices are checked like send steps, and `performance.*` is
known only to messages after a `dr_performance` step."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridjourney.dsl.compiler import check_journey, successors
from gridjourney.dsl.loader import JourneyError, load_journey_with_positions
from gridjourney.dsl.step_graph import measured_steps, step_edges

# Lines 1-9; steps start on line 10.
DR_HEAD = """\
id: run
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {program: event.program}
  updates: [dr.event_modified]
steps:
"""
OUTAGE = """\
id: outage
mode: cohort
purpose: safety
trigger: {event: outage.detected}
cohort:
  key: event.incident_id
  audience: {grid: true}
  on_update:
    - event: outage.etr_updated
      send: {channels: [sms], template: etr}
      at_steps: [waiting]
steps:
  - {id: waiting, wait_for: {event: outage.restored, timeout: 4h}}
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    for channel, locale, name, body in [
        (
            "sms",
            "en",
            "thanks",
            "{% if performance.known and performance.responded %}{{ performance.kwh_saved }} kWh, "
            "{{ performance.credit | money }}{% else %}A tip{% endif %}",
        ),
        ("sms", "es", "thanks", "{{ performance.kwh_saved }} kWh"),
        ("sms", "en", "misspelt", "{{ performance.kwh_save }} kWh"),
        ("sms", "en", "notice", "Event at {{ event.start }}"),
        ("sms", "en", "etr", "Purpose: safety\nBack by {{ event.etr }} ({{ event.incident_id }})"),
        ("sms", "en", "etr_unsafe", "Back by {{ event.etr }}"),
        ("sms", "en", "etr_typo", "Purpose: safety\nBack by {{ event.eta }}"),
        ("sms", "en", "back", "Purpose: safety\nBack at {{ event.restored_at }}"),
    ]:
        path = tmp_path / channel / locale / f"{name}.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return tmp_path


def check(text: str, templates: Path) -> list[JourneyError]:
    loaded = load_journey_with_positions(text, "run.yaml")
    return check_journey(loaded.definition, loaded.positions, templates)


def located(errors: list[JourneyError]) -> list[str]:
    return [str(e).split(" (hint: ")[0] for e in errors]


def test_performance_after_a_dr_performance_step(templates: Path) -> None:
    steps = """\
  - {id: notice, send: {channels: [sms], template: notice}}
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
  - {id: thank_you, send: {channels: [sms], template: thanks}}
"""
    assert check(DR_HEAD + steps, templates) == []


def test_performance_before_any_dr_performance_step_is_refused(templates: Path) -> None:
    steps = """\
  - {id: thank_you, send: {channels: [sms], template: thanks}}
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
"""
    errors = check(DR_HEAD + steps, templates)
    assert located(errors) == [
        "run.yaml:10:55: template sms/en/thanks.j2:1 uses `performance`, which only messages after a "
        "`dr_performance` step have",
        "run.yaml:10:55: template sms/es/thanks.j2:1 uses `performance`, which only messages after a "
        "`dr_performance` step have",
    ]
    assert errors[0].hint is not None and "put a `dr_performance` step before this send" in errors[0].hint


def test_a_send_reached_around_the_dr_performance_step_is_refused(templates: Path) -> None:
    steps = """\
  - {id: route, branch: [{when: "customer.has_smart_thermostat", goto: thank_you}, {goto: measure}]}
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
  - {id: thank_you, send: {channels: [sms], template: thanks}}
"""
    errors = check(DR_HEAD + steps, templates)
    assert {(e.line, e.column) for e in errors} == {(12, 55)}
    assert all("uses `performance`" in e.message for e in errors)


def test_an_unknown_performance_field_is_named(templates: Path) -> None:
    steps = """\
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
  - {id: thank_you, send: {channels: [sms], template: misspelt}}
"""
    errors = check(DR_HEAD + steps, templates)
    assert located(errors) == ["run.yaml:11:55: template sms/en/misspelt.j2:1 uses `performance.kwh_save`"]
    assert errors[0].hint == (
        "did you mean `kwh_saved`? performance fields: credit, known, kwh_saved, responded"
    )


def test_per_customer_templates_cannot_use_performance(templates: Path) -> None:
    text = """\
id: per_customer
purpose: informational
trigger: {event: dr.event_scheduled}
steps:
  - {id: thank_you, send: {channels: [sms], template: thanks}}
"""
    errors = check(text, templates)
    assert errors and all(e.line == 5 and "uses `performance`" in e.message for e in errors)


def test_measured_steps_are_those_reached_only_through_dr_performance() -> None:
    steps = """\
  - {id: route, branch: [{when: "customer.has_smart_thermostat", goto: c}, {goto: measure}]}
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
  - {id: b, wait: 1h}
  - {id: c, wait: 1h}
"""
    definition = load_journey_with_positions(DR_HEAD + steps, "run.yaml").definition
    assert measured_steps(definition, step_edges(definition, successors(definition))) == {"b"}


def test_update_notice_templates_are_checked_like_sends(templates: Path) -> None:
    assert check(OUTAGE, templates) == []
    errors = check(OUTAGE.replace("template: etr}", "template: etr_typo}"), templates)
    assert located(errors) == [
        "run.yaml:10:41: template sms/en/etr_typo.j2:2 uses `event.eta`, which the trigger event does "
        "not have"
    ]
    missing = check(OUTAGE.replace("[sms], template: etr}", "[sms, email], template: etr}"), templates)
    assert located(missing) == ["run.yaml:10:48: no email template `etr` in English"]


def test_update_notices_of_safety_journeys_need_safety_templates(templates: Path) -> None:
    text = OUTAGE.replace("template: etr}", "template: etr_unsafe}")
    assert located(check(text, templates)) == [
        "run.yaml:10:41: purpose `safety` needs safety templates; template sms/en/etr_unsafe.j2 is not "
        "marked safety (its first line would be `Purpose: safety`)"
    ]


def test_update_notices_see_the_fields_of_the_updates_types(templates: Path) -> None:
    notice = OUTAGE.replace("template: etr}", "template: back}").replace(
        "event: outage.etr_updated", "event: outage.restored"
    )
    assert located(check(notice, templates)) == [
        "run.yaml:10:41: template sms/en/back.j2:2 uses `event.restored_at`, which the trigger event does "
        "not have"
    ]
    updated = notice.replace("  on_update:", "  updates: [outage.restored]\n  on_update:")
    assert check(updated, templates) == []
