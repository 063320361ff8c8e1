"""A cohort journey reads no personal field of the events its run gets (the router strips them: a run
is shared and outlives its members' erasure); each read is refused at its file:line:column."""

from __future__ import annotations

from pathlib import Path

from gridjourney.dsl.cohort_personal_checks import no_personal_fields_in_templates
from gridjourney.dsl.loader import JourneyError, load_journey_with_positions
from tests.dsl.test_cohort_checks import check, located

# A run per channel hearing members' replies (message.received carries the key). Steps: line 9.
REPLY_HEAD = """\
id: run
mode: cohort
purpose: informational
trigger: {event: outage.reported}
cohort:
  key: event.channel
  audience: {grid: true}
steps:
"""
# A run per premise started by a customer's creation and updated by their profile. Steps: line 10.
PREMISE_HEAD = """\
id: run
mode: cohort
purpose: informational
trigger: {event: customer.created}
cohort:
  key: event.premise_id
  audience: {grid: true}
  updates: [customer.updated]
steps:
"""
HINT = "a cohort run is shared by its members and outlives their erasure"


def _only(errors: list[JourneyError]) -> str:
    assert len(errors) == 1, located(errors)
    assert HINT in (errors[0].hint or "")
    return located(errors)[0]


def test_a_wait_for_may_read_a_replys_keyword_but_not_its_body() -> None:
    keyword = "  - wait_for: {event: message.received, timeout: 1d, when: \"event.keyword == 'YES'\"}\n"
    assert check(REPLY_HEAD + keyword.replace("- wait_for", "- id: hear\n    wait_for")) == []
    body = (
        "  - id: hear\n    wait_for: {event: message.received, timeout: 1d, when: \"event.body == 'yes'\"}\n"
    )
    assert _only(check(REPLY_HEAD + body)) == (
        "run.yaml:10:60: expression \"event.body == 'yes'\": `event.body` is personal data, which a "
        "cohort run never gets"
    )


def test_the_key_may_not_read_a_personal_field() -> None:
    errors = check(PREMISE_HEAD.replace("event.premise_id", "event.phone") + "  - {id: pause, wait: 1d}\n")
    assert _only(errors) == (
        "run.yaml:6:8: expression 'event.phone': `event.phone` is personal data, which a cohort run "
        "never gets"
    )


def test_steps_may_not_read_the_subjects_personal_fields() -> None:
    steps = """\
  - id: route
    branch: [{when: "event.name == 'Ada'", goto: mark}, {goto: end}]
  - id: mark
    update: {attribute: greeting, expression: "event.email"}
"""
    assert located(check(PREMISE_HEAD + steps)) == [
        "run.yaml:11:21: expression \"event.name == 'Ada'\": `event.name` is personal data, which a "
        "cohort run never gets",
        "run.yaml:13:47: expression 'event.email': `event.email` is personal data, which a cohort run "
        "never gets",
    ]


def test_an_update_notice_may_not_compare_a_personal_field() -> None:
    head = PREMISE_HEAD.replace(
        "  updates: [customer.updated]\n",
        "  updates: [customer.updated]\n  on_update:\n"
        "    - event: customer.updated\n"
        "      send: {channels: [sms], template: moved}\n"
        "      at_steps: [pause]\n"
        "      changed: [name]\n",
    )
    errors = check(head + "  - {id: pause, wait: 1d}\n")
    assert _only(errors) == "run.yaml:13:17: `name` is personal data, which a cohort run never gets"


def test_the_same_reads_stay_allowed_per_customer() -> None:
    per_customer = """\
id: run
purpose: informational
trigger: {event: customer.created}
steps:
  - id: route
    branch: [{when: "event.name == 'Ada'", goto: end}, {goto: end}]
"""
    loaded = load_journey_with_positions(per_customer, "run.yaml")
    assert loaded.definition.cohort is None
    assert check(per_customer) == []


def test_a_template_may_not_read_the_subjects_personal_fields(tmp_path: Path) -> None:
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "hello.j2").write_text("Power is back at {{ event.premise_id }}.\n")
    (tmp_path / "sms" / "es").mkdir(parents=True)
    (tmp_path / "sms" / "es" / "hello.j2").write_text("Hola\n{{ event.name }}, {{ customer.name }}\n")
    loaded = load_journey_with_positions(
        PREMISE_HEAD + "  - id: hello\n    send: {channels: [sms], template: hello}\n", "run.yaml"
    )
    errors = list(no_personal_fields_in_templates(loaded.definition, loaded.positions, tmp_path))
    assert len(errors) == 1 and HINT in (errors[0].hint or "")
    # the customer's own name is read from the projection per member, not from the run's event
    assert located(errors) == [
        "run.yaml:11:39: template sms/es/hello.j2:2 reads `event.name`, personal data, which a cohort "
        "run never gets"
    ]
