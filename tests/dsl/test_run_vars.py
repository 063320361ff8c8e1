"""Split arms' `vars`: an A/B test of a subject line with one template, checked when the journey loads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gridjourney.dsl.compiler import check_journey, definition_hash, successors
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions
from gridjourney.dsl.run_vars import vars_at_steps
from tests.files import write_files

# The split is on line 6; its arms on lines 7 and 8; the send on line 9.
AB_SUBJECT = """\
id: budget_billing_invite
purpose: marketing
trigger: bill.issued
steps:
  - id: pick_subject
    split:
      - {weight: 50, goto: invite, vars: {subject: "Save on your bill"}}
      - {weight: 50, goto: invite, vars: {subject: "Your bill, lower"}}
  - id: invite
    send: {channels: [email], template: budget_invite}
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return write_files(
        tmp_path,
        {
            "email/en/budget_invite.j2": "Subject: {{ vars.subject }}\n\nHello {{ customer.name }}",
            "email/en/budget_typo.j2": "Subject: {{ vars.subjct }}\n\nHello",
        },
    )


def problems(source: str, templates: Path) -> list[JourneyError]:
    loaded = load_journey_with_positions(source, "ab.yaml")
    return check_journey(loaded.definition, loaded.positions, templates)


def test_one_template_reads_the_arm_s_subject(templates: Path) -> None:
    assert problems(AB_SUBJECT, templates) == []


def test_a_misspelt_var_is_an_error_with_a_did_you_mean(templates: Path) -> None:
    [error] = problems(AB_SUBJECT.replace("budget_invite", "budget_typo"), templates)
    assert (error.line, error.column) == (10, 41)
    assert "uses `vars.subjct`, which no split arm sets" in error.message
    assert error.hint is not None and "did you mean `subject`?" in error.hint


def test_a_var_without_any_split_is_an_error(templates: Path) -> None:
    source = AB_SUBJECT.replace(', vars: {subject: "Save on your bill"}', "").replace(
        ', vars: {subject: "Your bill, lower"}', ""
    )
    [error] = problems(source, templates)
    assert "no split arm of the journey sets them" in error.message


def test_every_arm_sets_the_same_names(templates: Path) -> None:
    source = AB_SUBJECT.replace('vars: {subject: "Your bill, lower"}', 'vars: {title: "Lower"}')
    found = problems(source, templates)
    assert [(e.line, e.message) for e in found if "does not set" in e.message] == [
        (7, "this arm does not set `title`, which another arm of the split sets"),
        (8, "this arm does not set `subject`, which another arm of the split sets"),
    ]


def test_a_send_before_the_split_cannot_read_its_vars(templates: Path) -> None:
    source = AB_SUBJECT.replace(
        "steps:\n", "steps:\n  - id: early\n    send: {channels: [email], template: budget_invite}\n"
    )
    [error] = problems(source, templates)
    assert error.line == 6  # the early send's template
    assert "not every way to this send passes a split arm that sets `subject`" in error.message


def test_names_surely_set_follow_every_path() -> None:
    source = """\
id: paths
purpose: marketing
trigger: bill.issued
steps:
  - id: ask
    branch: [{when: "event.amount > 100", goto: pick}, {goto: plain}]
  - id: pick
    split:
      - {weight: 1, goto: after, vars: {subject: A, tone: warm}}
      - {weight: 1, goto: after, vars: {subject: B, tone: dry}}
  - id: plain
    send: {channels: [email], template: plain}
  - id: after
    send: {channels: [email], template: after}
"""
    definition = load_journey_with_positions(source, "paths.yaml").definition
    graph = {
        "ask": ["pick", "plain"],
        "pick": ["after"],
        "plain": [successors(definition)["plain"] or "after"],
        "after": [],
    }
    at = vars_at_steps(definition, graph)
    assert at["pick"] == frozenset()
    assert at["plain"] == frozenset()
    # `after` is reached from `plain` too, where no split ran
    assert at["after"] == frozenset()
    graph["plain"] = []
    assert vars_at_steps(definition, graph)["after"] == {"subject", "tone"}


def test_a_journey_without_vars_keeps_its_hash() -> None:
    """Versions published before `vars` existed: their canonical form has no `vars` key."""
    source = AB_SUBJECT.replace(', vars: {subject: "Save on your bill"}', "").replace(
        ', vars: {subject: "Your bill, lower"}', ""
    )
    definition = load_journey_with_positions(source, "ab.yaml").definition
    data = definition.model_dump(mode="json", exclude={"steps": {0: {"split": {0: {"vars"}, 1: {"vars"}}}}})
    data.pop("cohort")
    for trigger in data["trigger"]:  # nor the schedule trigger's keys
        trigger.pop("schedule")
        trigger.pop("audience")
    for step in data["steps"]:
        if "send" in step:
            step["send"].pop("sending_hours")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert definition_hash(definition) == hashlib.sha256(canonical.encode()).hexdigest()
    with_vars = load_journey_with_positions(AB_SUBJECT, "ab.yaml").definition
    assert definition_hash(with_vars) != definition_hash(definition)


def test_the_json_schema_accepts_arms_with_vars_and_documents_them() -> None:
    schema = journey_json_schema()
    jsonschema.validate(yaml.safe_load(AB_SUBJECT), schema)
    arm = schema["$defs"]["SplitArm"]["properties"]["vars"]
    assert "{{ vars.<name> }}" in arm["description"]
    assert arm["examples"] == [{"subject": "Save on your bill"}]
    bad = yaml.safe_load(AB_SUBJECT.replace("vars: {subject:", "vars: {Subject Line:"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize(
    ("value", "reason"),
    [(".inf", "must be a finite number"), ('"' + "z" * 1_001 + '"', "a variable may have at most 1000")],
)
def test_an_arm_s_value_must_fit_in_a_message(value: str, reason: str, templates: Path) -> None:
    source = AB_SUBJECT.replace('vars: {subject: "Your bill, lower"}', f"vars: {{subject: {value}}}")
    with pytest.raises(JourneyErrors) as caught:
        problems(source, templates)
    [error] = caught.value.errors
    assert error.line == 8 and reason in error.message
