"""Sending windows in journeys: `send: {..., sending_hours: "09:00-18:00"}`, refused with positions."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest

from gridjourney.dsl.compiler import content_hash
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_file, load_journey_text
from gridjourney.dsl.schema import JourneyDefinition, SendStep
from gridjourney.dsl.windows import TimeWindow

ROOT = Path(__file__).resolve().parents[2]
HEAD = """\
id: sample
purpose: informational
trigger: {event: bill.projection_updated}
steps:
"""


def errors_of(steps: str) -> list[tuple[int, int, str]]:
    with pytest.raises(JourneyErrors) as caught:
        load_journey_text(HEAD + steps, "j.yaml")
    return [(e.line, e.column, e.message) for e in caught.value.errors]


def only_send(steps: str) -> SendStep:
    step = load_journey_text(HEAD + steps, "j.yaml").steps[0]
    assert isinstance(step, SendStep)
    return step


def test_one_window_or_a_list_sorted() -> None:
    one = only_send('  - {id: a, send: {channels: [sms], template: t, sending_hours: "09:00-18:00"}}\n')
    assert one.send.sending_hours == [TimeWindow(start=time(9), end=time(18))]
    assert one.send.sending_hours_text() == ["09:00-18:00"]
    several = only_send(
        '  - {id: a, send: {channels: [sms], template: t, sending_hours: ["18:30-24:00", "07:00-12:00"]}}\n'
    )
    assert several.send.sending_hours_text() == ["07:00-12:00", "18:30-24:00"]
    assert only_send("  - {id: a, send: {channels: [sms], template: t}}\n").send.sending_hours_text() is None


def test_bad_windows_are_refused_at_their_line_and_column() -> None:
    found = errors_of(
        """\
  - id: a
    send: {channels: [sms], template: t, sending_hours: ["09:00-12:00", "18:00-09:00"]}
  - id: b
    send:
      channels: [sms]
      template: t
      sending_hours: ["09:00-12:00", "11:30-13:00"]
  - id: c
    send: {channels: [sms], template: t, sending_hours: "9 to 5"}
  - id: d
    send: {channels: [sms], template: t, sending_hours: []}
  - id: e
    send: {channels: [sms], template: t, sending_hours: "08:00-24:30"}
"""
    )
    assert found == [
        (
            6,
            73,
            "steps.0.send.sending_hours.1: '18:00-09:00' is empty or runs backwards; "
            "a window ends after it starts",
        ),
        (11, 22, "steps.1.send.sending_hours: windows 09:00-12:00 and 11:30-13:00 overlap"),
        (13, 57, "steps.2.send.sending_hours: '9 to 5' is not a window; write HH:MM-HH:MM, e.g. 08:00-21:00"),
        (15, 57, "steps.3.send.sending_hours: give at least one window, or leave `sending_hours` out"),
        (17, 57, "steps.4.send.sending_hours: '08:00-24:30': the latest end is 24:00"),
    ]


def test_the_compiled_journey_round_trips_its_windows() -> None:
    definition = load_journey_file(ROOT / "journeys" / "high_bill_alert.yaml")
    again = JourneyDefinition.model_validate(json.loads(definition.model_dump_json()))
    assert again == definition
    alert = definition.steps[0]
    assert isinstance(alert, SendStep) and alert.send.sending_hours_text() == ["09:00-18:00"]


PUBLISHED_BEFORE_WINDOWS = """
id: outage_small
purpose: safety
trigger: {event: outage.detected}
entry: {reentry: every_trigger}
steps:
  - id: notice
    send: {channels: [sms, email], template: outage_detected}
"""


def test_journeys_without_windows_keep_their_published_hash() -> None:
    # The hash the compiler gave this text before `sending_hours` existed (commit 599c637): an
    # unchanged file must not become a new version.
    text = PUBLISHED_BEFORE_WINDOWS.lstrip()
    assert content_hash(text) == "a09e7bbb50c8b705b09f7620f0fbd9ff4e60809775a0349afb421c6040cb0c5a"
    windowed = text.replace(
        "template: outage_detected}", 'template: outage_detected, sending_hours: "00:00-24:00"}', 1
    )
    assert windowed != text and content_hash(windowed) != content_hash(text)


def test_error_type_is_a_journey_error() -> None:
    with pytest.raises(JourneyErrors) as caught:
        load_journey_text(
            HEAD + '  - {id: a, send: {channels: [sms], template: t, sending_hours: "x"}}\n', "j.yaml"
        )
    assert all(isinstance(error, JourneyError) for error in caught.value.errors)
    assert str(caught.value.errors[0]).startswith("j.yaml:5:")


def test_the_schema_shows_windows_as_files_write_them() -> None:
    schema = JourneyDefinition.model_json_schema()
    hours = schema["$defs"]["SendSpec"]["properties"]["sending_hours"]
    assert [option["type"] for option in hours["anyOf"]] == ["string", "array"]
    assert "09:00-18:00" in hours["examples"]
