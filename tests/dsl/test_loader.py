"""The loader reports every problem with the exact line and column of the offending YAML."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from gridjourney.dsl.loader import (
    JourneyError,
    JourneyErrors,
    load_journey_file,
    load_journey_text,
    load_journey_with_positions,
)
from gridjourney.dsl.schema import SendStep, WaitStep

VALID = """\
id: sample
purpose: informational
trigger:
  event: bill.projection_updated
steps:
  - id: alert
    send: {channels: [sms], template: alert}
  - id: pause
    wait: 3d
"""


def errors_of(text: str) -> list[JourneyError]:
    with pytest.raises(JourneyErrors) as caught:
        load_journey_text(text, "j.yaml")
    return caught.value.errors


def only_error(text: str) -> JourneyError:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


def test_valid_file_loads_with_shorthands() -> None:
    definition = load_journey_text(VALID, "j.yaml")
    assert definition.trigger[0].event == "bill.projection_updated"
    assert isinstance(definition.steps[0], SendStep)
    pause = definition.steps[1]
    assert isinstance(pause, WaitStep) and pause.wait.duration == timedelta(days=3)


def test_load_journey_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace("purpose: informational", "purpose: loud"))
    with pytest.raises(JourneyErrors) as caught:
        load_journey_file(path)
    assert str(caught.value).startswith(f"{path}:2:10: purpose:")


def test_yaml_syntax_error_has_position_and_hint() -> None:
    error = only_error("id: x\nsteps: [a, b\npurpose: safety\n")
    assert (error.line, error.column) == (3, 8)
    assert error.message.startswith("YAML syntax error:")
    assert error.hint and "flow sequence" in error.hint


def test_bad_indentation_is_a_syntax_error() -> None:
    error = only_error("id: x\n  purpose: safety\n")
    assert (error.line, error.column) == (2, 10)
    assert "mapping values are not allowed" in error.message


def test_str_prints_file_line_column_message_and_hint() -> None:
    error = JourneyError("a.yaml", 3, 7, "unknown key `sned`", "did you mean `send`?")
    assert str(error) == "a.yaml:3:7: unknown key `sned` (hint: did you mean `send`?)"
    assert str(JourneyErrors([error, JourneyError("a.yaml", 1, 1, "m", "h")])).splitlines() == [
        "a.yaml:1:1: m (hint: h)",
        "a.yaml:3:7: unknown key `sned` (hint: did you mean `send`?)",
    ]


def test_empty_file_and_non_mapping() -> None:
    assert only_error("").message == "the file is empty"
    error = only_error("- a\n- b\n")
    assert (error.line, error.column, error.message) == (1, 1, "a journey file must be a mapping")


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    error = only_error(VALID + "purpose: safety\n")
    assert (error.line, error.column, error.message) == (10, 1, "duplicate key `purpose`")


def test_unknown_key_at_the_key_with_did_you_mean() -> None:
    error = only_error(
        VALID.replace("  event: bill", "  evnt: bill").replace("trigger:\n", "trigger:\n  event: x\n")
    )
    assert (error.line, error.column) == (5, 3)
    assert error.message == "unknown key `evnt`"
    assert error.hint is not None and error.hint.startswith("did you mean `event`?")


def test_unknown_top_level_key() -> None:
    error = only_error(VALID + "exits_on: [bill.issued]\n")
    assert (error.line, error.column, error.message) == (10, 1, "unknown key `exits_on`")
    assert error.hint is not None and "did you mean `exit_on`?" in error.hint


def test_misspelled_step_kind_gets_did_you_mean() -> None:
    error = only_error(VALID.replace("    send: {", "    sned: {"))
    assert (error.line, error.column, error.message) == (7, 5, "unknown key `sned`")
    assert error.hint is not None and error.hint.startswith("did you mean `send`?")


def test_step_with_two_kinds() -> None:
    error = only_error(
        VALID.replace("    wait: 3d", "    wait: 3d\n    send: {channels: [sms], template: a}")
    )
    assert (error.line, error.column) == (8, 5)
    assert error.message == "a step has one kind, this one has 2: send, wait"


def test_unknown_key_inside_a_step_spec() -> None:
    error = only_error(VALID.replace("template: alert}", "template: alert, chanel: x}"))
    assert (error.line, error.column, error.message) == (7, 46, "unknown key `chanel`")
    assert error.hint is not None and "did you mean `channels`?" in error.hint


def test_missing_field_is_reported_at_the_parent_mapping() -> None:
    error = only_error(VALID.replace("purpose: informational\n", ""))
    assert (error.line, error.column) == (1, 1)
    assert error.message == "`purpose` is required here"
    missing_timeout = VALID + "  - id: hear\n    wait_for:\n      event: usage.reduced\n"
    error = only_error(missing_timeout)
    assert (error.line, error.column, error.message) == (12, 7, "`timeout` is required here")


def test_wrong_literal_value_at_the_value() -> None:
    error = only_error(VALID.replace("channels: [sms]", "channels: [sms, fax]"))
    assert (error.line, error.column) == (7, 28)
    assert error.message.startswith("steps.0.send.channels.1: Input should be 'sms', 'email' or 'push'")
    assert error.hint == "use one of 'sms', 'email' or 'push'"


def test_bad_identifier() -> None:
    error = only_error(VALID.replace("id: sample", "id: High-Bill"))
    assert (error.line, error.column) == (1, 5)
    assert error.message == "id: 'High-Bill' is not a valid name"


def test_bad_duration_in_shorthand() -> None:
    error = only_error(VALID.replace("wait: 3d", "wait: 3 days"))
    assert (error.line, error.column) == (9, 11)
    assert "'3 days' is not a duration" in error.message
    assert error.hint == "write a duration such as 30m, 12h, 3d or 2w"


def test_cross_field_rule_reported_at_its_mapping() -> None:
    error = only_error(VALID + "entry:\n  reentry: once_per_window\n")
    assert (error.line, error.column) == (11, 3)
    assert "`window` is required" in error.message
    assert error.hint is not None and "window: 30d" in error.hint


def test_unquoted_time_of_day_is_not_base_60() -> None:
    text = VALID.replace("wait: 3d", "wait: {until_local_time: 9:30}")
    error = only_error(text)
    assert (error.line, error.column) == (9, 30)
    assert error.hint is not None and "'09:00'" in error.hint
    definition = load_journey_text(VALID.replace("wait: 3d", "wait: {until_local_time: 18:30}"), "j.yaml")
    step = definition.steps[1]
    assert isinstance(step, WaitStep) and step.wait.until_local_time == time(18, 30)


def test_every_error_is_reported_not_only_the_first() -> None:
    text = VALID.replace("purpose: informational", "purpose: loud").replace("wait: 3d", "wait: soon")
    text = text.replace("channels: [sms]", "channels: []")
    positions = sorted((e.line, e.column) for e in errors_of(text))
    assert positions == [(2, 10), (7, 22), (9, 11)]


def test_positions_map_model_paths_for_the_compiler() -> None:
    loaded = load_journey_with_positions(VALID, "j.yaml")
    assert loaded.positions.at(("steps", 0, "send", "template")) == (7, 39)
    # `trigger:` given as one mapping is trigger[0] in the model
    assert loaded.positions.at(("trigger", 0, "event")) == (4, 10)
    # a path below a scalar falls back to the nearest ancestor
    assert loaded.positions.at(("steps", 1, "wait", "duration")) == (9, 11)
    assert loaded.positions.key_at(("purpose",)) == (2, 1)
