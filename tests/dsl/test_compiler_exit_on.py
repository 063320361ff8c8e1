"""`exit_on` with a condition: checked when the journey loads, like every other expression."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions

# exit_on's items are on lines 5 and 6.
SAVINGS_WATCH = """\
id: savings_watch
purpose: informational
trigger: bill.projection_updated
exit_on:
  - bill.issued
  - {event: usage.reduced, when: "event.kwh_saved >= 50"}
steps:
  - {id: alert, send: {channels: [sms], template: high_bill_alert}}
"""


def problems(source: str) -> list[JourneyError]:
    loaded = load_journey_with_positions(source, "watch.yaml")
    return check_journey(loaded.definition, loaded.positions, None)


def test_a_conditional_exit_loads_beside_a_plain_one() -> None:
    assert problems(SAVINGS_WATCH) == []
    definition = load_journey_with_positions(SAVINGS_WATCH, "watch.yaml").definition
    assert definition.exit_event_types == ["bill.issued", "usage.reduced"]
    assert definition.exit_condition("usage.reduced") == (False, ["event.kwh_saved >= 50"])
    assert definition.exit_condition("bill.issued") == (True, [])


def test_a_misspelt_field_gets_a_did_you_mean_at_its_position() -> None:
    [error] = problems(SAVINGS_WATCH.replace("event.kwh_saved", "event.kwh_savd"))
    assert (error.line, error.column) == (6, 41)
    assert "`event` has no field `kwh_savd`; did you mean `kwh_saved`?" in error.message


def test_the_condition_may_read_the_trigger() -> None:
    assert problems(SAVINGS_WATCH.replace("event.kwh_saved >= 50", "trigger.days_left > 3")) == []
    [error] = problems(SAVINGS_WATCH.replace("event.kwh_saved >= 50", "trigger.days_lft > 3"))
    assert "did you mean `days_left`?" in error.message


def test_an_unknown_event_type_is_reported_at_its_event_key() -> None:
    [error] = problems(SAVINGS_WATCH.replace("event: usage.reduced", "event: usage.reducd"))
    assert (error.line, error.message) == (6, "unknown event type `usage.reducd`")
    assert error.hint is not None and "did you mean `usage.reduced`?" in error.hint


def test_a_cohort_journey_refuses_a_conditional_exit() -> None:
    source = """\
id: outage
mode: cohort
purpose: safety
trigger: {event: outage.detected}
cohort: {key: event.incident_id, audience: {grid: true}}
exit_on:
  - {event: outage.restored, when: "event.incident_id == 'x'"}
steps:
  - {id: waiting, wait: 1h}
"""
    found = [e for e in problems(source) if "conditional `exit_on`" in e.message]
    assert [e.line for e in found] == [7]


def test_the_json_schema_accepts_both_forms() -> None:
    schema = journey_json_schema()
    jsonschema.validate(yaml.safe_load(SAVINGS_WATCH), schema)
    without_condition = SAVINGS_WATCH.replace(', when: "event.kwh_saved >= 50"', "")
    with pytest.raises(jsonschema.ValidationError):  # a mapping needs its `when`
        jsonschema.validate(yaml.safe_load(without_condition), schema)


def test_a_misspelt_key_of_a_conditional_exit_is_named_once() -> None:
    source = SAVINGS_WATCH.replace("when:", "wen:")
    with pytest.raises(JourneyErrors) as raised:
        load_journey_with_positions(source, "watch.yaml")
    found = [(e.line, e.message, e.hint) for e in raised.value.errors]
    assert (6, "unknown key `wen`", "did you mean `when`? allowed keys: event, when") in found
    assert (6, "`when` is required here", "add `when:` to this mapping") in found
    assert len(found) == 2  # not also "should be a valid string" for the plain form
