"""The journey JSON Schema as an editor uses it: a standard validator accepts every shipped journey and
the shorthands, refuses what the compiler refuses by name, and documents every property."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gridjourney.content.filters import FILTERS
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import load_journey_text

JOURNEYS = sorted((Path(__file__).parents[2] / "journeys").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document = journey_json_schema()
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def problems(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", JOURNEYS, ids=lambda p: p.stem)
def test_every_shipped_journey_is_valid(schema: dict[str, Any], path: Path) -> None:
    assert problems(schema, yaml.safe_load(path.read_text())) == []


SHORTHANDS = """\
id: shorthands
purpose: marketing
trigger: audit.booked
steps:
  - {id: pause, wait: 3d}
  - {id: pause_seconds, wait: 3600}
  - {id: refresh, score: dr_propensity}
  - id: hear
    wait_for: {event: bill.past_due, timeout: 2w}
"""


def test_shorthands_and_declared_types_are_valid_as_the_loader_reads_them(schema: dict[str, Any]) -> None:
    data = yaml.safe_load(SHORTHANDS)
    assert problems(schema, data) == []
    as_list = {**data, "trigger": ["audit.booked", {"event": "bill.past_due", "when": "event.hardship"}]}
    assert problems(schema, as_list) == []
    definition = load_journey_text(SHORTHANDS, "shorthands.yaml")
    assert [t.event for t in definition.trigger] == ["audit.booked"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"trigger": {"event": "journey.entered"}}, "['trigger']"),
        ({"trigger": "bill.isued"}, "['trigger']"),
        ({"purpose": "marketting"}, "['purpose']"),
        ({"entry": {"reentry": "twice"}}, "['entry', 'reentry']"),
        ({"exit_on": ["message.sent"]}, "['exit_on', 0]"),
        ({"steps": [{"id": "a", "send": {"channels": ["fax"], "template": "t"}}]}, "['steps', 0]"),
        ({"steps": [{"id": "a", "score": "dr_propensty"}]}, "['steps', 0]"),
    ],
)
def test_names_outside_the_enumerations_are_flagged(
    schema: dict[str, Any], change: dict[str, Any], where: str
) -> None:
    data = {**yaml.safe_load(SHORTHANDS), **change}
    found = problems(schema, data)
    assert found and all(p.startswith(where) for p in found), found


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    holders = {"journey": schema, **schema["$defs"]}
    for name, holder in holders.items():
        for prop, spec in holder.get("properties", {}).items():
            yield f"{name}.{prop}", spec


def test_every_property_has_a_description_and_an_example(schema: dict[str, Any]) -> None:
    found = list(_properties(schema))
    assert len(found) > 80
    undocumented = [name for name, spec in found if not spec.get("description")]
    without_example = [name for name, spec in found if not spec.get("examples")]
    assert undocumented == [] and without_example == []
    # each example is valid for its own property
    for name, spec in found:
        subschema = {"$defs": schema["$defs"], **{k: v for k, v in spec.items() if k != "examples"}}
        assert problems(subschema, spec["examples"][0]) == [], name


def test_enumerations_list_the_vocabulary(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    event_types = defs["EventType"]["enum"]
    assert {"bill.projection_updated", "outage.detected", "message.received"} <= set(event_types)
    assert {"audit.booked", "bill.past_due", "budget_billing.enrolled"} <= set(event_types)  # events/*.yaml
    assert not [t for t in event_types if t.startswith(("journey.", "message.sent"))]
    assert set(schema["properties"]["purpose"]["enum"]) == {"marketing", "informational", "safety"}
    reentry = defs["EntrySpec"]["properties"]["reentry"]
    assert set(reentry["enum"]) == {"once", "after_exit", "once_per_window", "every_trigger"}
    assert all(f"`{rule}`" in reentry["description"] for rule in reentry["enum"])
    assert set(defs["SendSpec"]["properties"]["channels"]["items"]["enum"]) == {"sms", "email", "push"}
    assert defs["TemplateFilter"]["enum"] == sorted(FILTERS)
