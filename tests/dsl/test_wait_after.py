"""`wait: {after: EXPR, duration: 3d}`: a duration after a time the event gives; checked at load like
every expression, in the JSON Schema, and leaving the hash of journeys without it as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import yaml

from gridjourney.content.preview_graph import journey_mermaid
from gridjourney.dsl.compiler import check_journey, content_hash
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions
from gridjourney.dsl.schema import WaitSpec
from gridjourney.workflows.decisions import wait_deadline

# the wait is on line 6
PAST_DUE = """\
id: past_due_follow_up
purpose: informational
trigger: bill.past_due
steps:
  - id: settle
    wait: {after: event.due_date, duration: 10d}
  - {id: remind, send: {channels: [sms], template: high_bill_alert}}
"""


def problems(source: str) -> list[JourneyError]:
    loaded = load_journey_with_positions(source, "past_due.yaml")
    return check_journey(loaded.definition, loaded.positions, None)


def test_it_loads_and_the_json_schema_accepts_it() -> None:
    assert problems(PAST_DUE) == []
    jsonschema.validate(yaml.safe_load(PAST_DUE), journey_json_schema())
    described = journey_json_schema()["$defs"]["WaitSpec"]["properties"]["after"]
    assert "duration" in described["description"] and described["examples"] == ["event.due_date"]


def test_a_misspelt_field_gets_a_did_you_mean_at_its_position() -> None:
    [error] = problems(PAST_DUE.replace("event.due_date", "event.due_dat"))
    assert (error.line, error.column) == (6, 25)
    assert "`event` has no field `due_dat`; did you mean `due_date`?" in error.message


@pytest.mark.parametrize(
    ("wait", "problem"),
    [
        ("{after: event.due_date, until: event.due_date}", "`after` goes with `duration` only"),
        ("{after: event.due_date, before: 1d}", "`after` goes with `duration` only"),
        ("{after: event.due_date, duration: -3d}", "not a duration"),
    ],
)
def test_what_does_not_go_with_it_is_refused(wait: str, problem: str) -> None:
    with pytest.raises(JourneyErrors) as raised:
        problems(PAST_DUE.replace("{after: event.due_date, duration: 10d}", wait))
    assert any(problem in e.message for e in raised.value.errors), raised.value.errors


def test_the_deadline_is_the_time_plus_the_duration_and_a_past_one_does_not_wait() -> None:
    spec = WaitSpec(after="event.due_date", duration=timedelta(days=10))
    now = datetime(2026, 11, 30, tzinfo=UTC)
    due = {"event": {"due_date": "2026-11-25T00:00:00+00:00"}}
    assert wait_deadline(spec, now, due) == datetime(2026, 12, 5, tzinfo=UTC)
    long_past = {"event": {"due_date": "2026-10-01T00:00:00+00:00"}}
    assert wait_deadline(spec, now, long_past) == now
    # without a duration: the time itself
    assert wait_deadline(WaitSpec(after="event.due_date"), now, due) == now


def test_journeys_without_it_keep_their_published_hash() -> None:
    # The hash the compiler gave this text before `after` existed (commit ceac7f8): an unchanged file
    # must not become a new version.
    source = PAST_DUE.replace("{after: event.due_date, duration: 10d}", "{until: event.due_date, before: 1d}")
    assert content_hash(source) == "b1bb081fdb15f0c1e96e25de1e58d712e7d1aa3d02b5706fb1427b535ba09608"
    assert content_hash(PAST_DUE) != content_hash(PAST_DUE.replace("event.due_date", "event.occurred_at"))


def test_the_preview_graph_names_it() -> None:
    definition = load_journey_with_positions(PAST_DUE, "past_due.yaml").definition
    assert "settle — wait: 10d after event.due_date" in journey_mermaid(definition)
