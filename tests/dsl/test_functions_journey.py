"""The date and history functions in a journey: in_journey()'s ids against the journey files, the
refusal in cohort mode, positions and hints, and what the customer-context loader is asked to read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.functions import HistoryUse
from gridjourney.dsl.loader import JourneyError, load_journey_with_positions
from gridjourney.workflows.decisions import wanted_facts

# the branch's case is on line 7
REMINDER = """\
id: past_due_reminder
purpose: informational
trigger: bill.past_due
steps:
  - id: choose
    branch:
      - when: 'not had("message.sent", within=30d, where=event.journey_id == "past_due_reminder")'
        goto: remind
  - {id: remind, send: {channels: [sms], template: high_bill_alert}}
"""


def problems(source: str, file: str = "reminder.yaml") -> list[JourneyError]:
    loaded = load_journey_with_positions(source, file)
    return check_journey(loaded.definition, loaded.positions, None)


def file_problems(source: str, directory: Path) -> list[JourneyError]:
    """Checked as `journeys validate` checks a file: in_journey()'s ids against its neighbours too."""
    path = directory / "reminder.yaml"
    path.write_text(source)
    return problems(source, str(path))


def test_the_functions_load_in_a_journey() -> None:
    assert problems(REMINDER) == []
    both = REMINDER.replace(
        "not had(", 'in_journey("onboarding") and days_since(event.due_date) > 3 and not had('
    )
    assert problems(both) == []


def test_an_unknown_event_type_in_had_is_reported_at_the_type() -> None:
    [error] = problems(REMINDER.replace('"message.sent"', '"message.snt"'))
    assert (error.line, error.column) == (7, 24)  # the opening quote of "message.snt"
    assert "had(): unknown event type `message.snt`; did you mean `message.sent`?" in error.message


def test_a_misspelt_function_is_the_one_error_at_its_name() -> None:
    [error] = problems(REMINDER.replace("not had(", "not hda("))
    assert (error.line, error.column) == (7, 20)
    assert "calling `hda` is not allowed: unknown function; did you mean `had`?" in error.message


def test_a_misspelt_field_in_where_reads_the_past_events_fields() -> None:
    [error] = problems(REMINDER.replace("event.journey_id", "event.journey"))
    assert "had()'s where" in error.message and "did you mean `journey_id`?" in error.message


def test_an_unknown_journey_gets_a_did_you_mean(tmp_path: Path) -> None:
    source = REMINDER.replace("not had(", 'in_journey("onbording") or had(')
    [error] = file_problems(source, tmp_path)
    assert error.line == 7 and "in_journey(): unknown journey `onbording`" in error.message
    assert error.hint is not None and "did you mean `onboarding`?" in error.hint


def test_a_journey_beside_the_file_is_known(tmp_path: Path) -> None:
    (tmp_path / "sibling.yaml").write_text("id: price_watch\npurpose: informational\n")
    source = REMINDER.replace("not had(", 'in_journey("price_watch") or had(')
    assert file_problems(source, tmp_path) == []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    [error] = file_problems(source, elsewhere)  # away from its sibling
    assert "unknown journey `price_watch`" in error.message
    assert problems(source) == []  # text alone (POST /v1/journeys) has no neighbours to compare


def test_a_cohort_journey_refuses_them() -> None:
    source = """\
id: outage
mode: cohort
purpose: informational
trigger: outage.detected
cohort:
  key: event.incident_id
  audience: {grid: true}
steps:
  - id: choose
    branch:
      - {when: 'local_date() > "2026-01-01"', goto: tell}
  - {id: tell, send: {channels: [sms], template: outage_detected}}
"""
    errors = problems(source)
    assert any(
        e.line == 11 and "a cohort run has no single customer's date or history" in e.message for e in errors
    ), errors


def test_the_loader_is_asked_each_history_once_with_its_longest_window() -> None:
    asks = 'had("bill.issued", within=10d) or had("bill.issued", within=2w) or in_journey("onboarding")'
    source = REMINDER.replace("not had(", f"{asks} or not had(")
    definition = load_journey_with_positions(source, "reminder.yaml").definition
    history, journeys = wanted_facts(definition)
    assert history == [
        HistoryUse("bill.issued", timedelta(days=14), None),
        HistoryUse("message.sent", timedelta(days=30), "event.journey_id == 'past_due_reminder'"),
    ]
    assert journeys == ["onboarding"]
    assert wanted_facts(
        load_journey_with_positions(REMINDER.replace("not had", "not max"), "x.yaml").definition
    ) == ([], [])


def test_a_window_too_long_is_reported_at_the_window() -> None:
    [error] = problems(REMINDER.replace("within=30d", "within=500d"))
    assert (error.line, error.column) == (7, 47)
    assert "had()'s `within` '500d' is too long: at most 400d" in error.message


def test_a_schedule_audience_refuses_them() -> None:
    source = """\
id: november_tips
purpose: informational
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: 'not had("message.sent", within=30d)'
steps:
  - {id: tips, send: {channels: [email], template: saving_tips}}
"""
    errors = problems(source)
    assert any(
        e.line == 5 and "a cohort run has no single customer's date or history" in e.message for e in errors
    ), errors
