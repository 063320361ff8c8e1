"""Whole-journey checks (with positions) and compilation to the step graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridjourney.dsl.compiler import check_journey, compile_journey, content_hash, definition_hash
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions

HEAD = """\
id: sample
purpose: informational
trigger:
  event: bill.projection_updated
steps:
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    for channel, locale, name, body in [
        ("sms", "en", "alert", "Bill {{ event.projected_amount | money }} for {{ customer.name }}"),
        ("sms", "es", "alert", "Factura {{ event.projected_amount | money }}"),
        ("email", "en", "alert", "Subject: Bill\n{{ journey.id }} {{ event.type }}"),
        ("sms", "es", "spanish_only", "Hola"),
        ("sms", "en", "uses_unknown_field", "{{ event.projected }}"),
        ("sms", "en", "uses_unknown_name", "{{ account.number }}"),
        (
            "sms",
            "en",
            "uses_loop",
            "{% for t in customer.programs %}{{ t.name }}{% endfor %}{% set x = 1 %}{{ x }}",
        ),
        ("sms", "en", "broken", "{{ event.projected_amount "),
        ("sms", "en", "unknown_filter", "Bill:\n{{ event.projected_amount | mony }}"),
    ]:
        path = tmp_path / channel / locale / f"{name}.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return tmp_path


def check(steps: str, templates_dir: Path | None = None, head: str = HEAD) -> list[JourneyError]:
    loaded = load_journey_with_positions(head + steps, "j.yaml")
    return check_journey(loaded.definition, loaded.positions, templates_dir)


def summary(errors: list[JourneyError]) -> list[tuple[int, int, str]]:
    return [(e.line, e.column, e.message) for e in errors]


def test_successors_follow_list_order_next_and_end() -> None:
    loaded = load_journey_with_positions(
        HEAD
        + """\
  - {id: a, send: {channels: [sms], template: alert}}
  - {id: b, wait: 1d, next: d}
  - {id: c, send: {channels: [sms], template: alert}, next: end}
  - id: d
    branch:
      - {when: "customer.has_smart_thermostat", goto: c}
  - {id: e, end: true}
""",
        "j.yaml",
    )
    compiled = compile_journey(loaded.definition, version=2, content_hash="abc", templates_dir=None)
    assert compiled.successors == {"a": "b", "b": "d", "c": None, "d": "e", "e": None}
    assert (compiled.journey_id, compiled.version, compiled.content_hash, compiled.first_step) == (
        "sample",
        2,
        "abc",
        "a",
    )


def test_a_clean_journey_has_no_errors(templates: Path) -> None:
    steps = """\
  - {id: a, send: {channels: [sms, email], template: alert}}
  - id: hear
    wait_for: {event: usage.reduced, when: "event.kwh_saved > trigger.projected_amount", timeout: 3d}
  - {id: b, branch: [{when: "event.days_left > 3", goto: a}, {goto: c}]}
  - {id: c, update: {attribute: alerted, expression: "event.projected_amount"}}
"""
    assert check(steps, templates) == []


def test_duplicate_step_id() -> None:
    errors = check("  - {id: a, wait: 1d}\n  - {id: a, wait: 2d}\n")
    assert summary(errors) == [(7, 10, "duplicate step id `a`")]


@pytest.mark.parametrize(
    ("step", "column"),
    [
        ("{id: b, wait: 1d, next: tipz}", 29),
        ("{id: b, branch: [{goto: tipz}]}", 29),
        ("{id: b, split: [{weight: 1, goto: tipz}, {weight: 1, goto: tips}]}", 39),
        ("{id: b, wait_for: {event: usage.reduced, timeout: 1d, on_event: tipz}}", 69),
        ("{id: b, wait_for: {event: usage.reduced, timeout: 1d, on_timeout: tipz}}", 71),
    ],
)
def test_unknown_step_ids(step: str, column: int) -> None:
    errors = [e for e in check(f"  - {step}\n  - {{id: tips, wait: 1d}}\n") if "unknown" in e.message]
    assert summary(errors) == [(6, column, "unknown step `tipz`")]
    assert errors[0].hint is not None and errors[0].hint.startswith("did you mean `tips`?")


def test_end_is_a_valid_target_and_a_reserved_id() -> None:
    assert check("  - {id: a, wait: 1d, next: end}\n") == []
    assert summary(check("  - {id: end, wait: 1d}\n")) == [(6, 10, "`end` is reserved")]


def test_unreachable_step() -> None:
    errors = check("  - {id: a, wait: 1d, next: end}\n  - {id: orphan, wait: 1d}\n")
    assert summary(errors) == [(7, 10, "step `orphan` can never be reached")]


def test_steps_after_an_otherwise_branch_need_a_pointer() -> None:
    steps = "  - {id: a, branch: [{when: 'customer.sqft', goto: c}, {goto: c}]}\n  - {id: b, wait: 1d}\n"
    steps += "  - {id: c, wait: 1d}\n"
    assert summary(check(steps)) == [(7, 10, "step `b` can never be reached")]


def test_otherwise_case_must_be_last() -> None:
    errors = check(
        "  - {id: a, branch: [{goto: b}, {when: 'customer.sqft', goto: b}]}\n  - {id: b, wait: 1d}\n"
    )
    assert [e.message for e in errors] == [
        "a case without `when` matches always; the cases after it never run"
    ]
    assert (errors[0].line, errors[0].column) == (6, 22)


def test_loop_without_a_wait() -> None:
    steps = """\
  - {id: a, send: {channels: [sms], template: alert}}
  - {id: b, branch: [{when: "customer.budget_billing", goto: a}, {goto: c}]}
  - {id: c, end: true}
"""
    errors = check(steps)
    assert summary(errors) == [
        (6, 10, "the steps a → b → a loop without a wait: the journey would never stop")
    ]
    assert errors[0].hint == "put a `wait` or `wait_for` step on the loop"


def test_self_loop_without_a_wait() -> None:
    errors = check("  - {id: a, update: {attribute: n, value: 1}, next: a}\n")
    assert [e.message for e in errors] == [
        "the steps a → a loop without a wait: the journey would never stop"
    ]


def test_loop_with_a_wait_is_fine() -> None:
    steps = """\
  - {id: a, send: {channels: [sms], template: alert}}
  - {id: pause, wait: 1d}
  - {id: b, branch: [{when: "customer.budget_billing", goto: a}, {goto: c}]}
  - {id: c, end: true}
"""
    assert check(steps) == []


def test_unknown_event_types_everywhere() -> None:
    text = """\
id: sample
purpose: informational
trigger:
  event: bill.projected
exit_on: [bill.issued, bill.paid]
goal: {event: usage.reduce, within: 3d}
steps:
  - {id: a, wait_for: {event: outage.restord, timeout: 1d}}
"""
    loaded = load_journey_with_positions(text, "j.yaml")
    errors = check_journey(loaded.definition, loaded.positions, None)
    assert summary(errors) == [
        (4, 10, "unknown event type `bill.projected`"),
        (5, 24, "unknown event type `bill.paid`"),
        (6, 15, "unknown event type `usage.reduce`"),
        (8, 31, "unknown event type `outage.restord`"),
    ]
    assert "did you mean `bill.projection_updated`?" in (errors[0].hint or "")
    assert "did you mean `outage.restored`?" in (errors[3].hint or "")


def test_bad_expressions_at_their_position() -> None:
    head = HEAD.replace(
        "  event: bill.projection_updated\n", "  event: bill.projection_updated\n  when: event.bill > 1\n"
    )
    steps = """\
  - {id: a, branch: [{when: "open('x')", goto: b}, {goto: b}]}
  - id: b
    wait_for: {event: outage.restored, when: "event.incident_id == trigger.incident", timeout: 1d}
"""
    errors = check(steps, head=head)
    # a name an expression lacks, or a function it calls, is pointed at; a forbidden construct at the
    # expression
    assert [(e.line, e.column) for e in errors] == [(5, 15), (7, 30), (9, 76)]
    assert "`event` has no field `bill`" in errors[0].message
    assert "calling `open` is not allowed" in errors[1].message
    assert "`trigger` has no field `incident`" in errors[2].message


def test_missing_english_template_per_channel(templates: Path) -> None:
    errors = check("  - {id: a, send: {channels: [sms, email], template: spanish_only}}\n", templates)
    assert summary(errors) == [
        (6, 54, "no email template `spanish_only` in English"),
        (6, 54, "no sms template `spanish_only` in English"),
    ]
    assert errors[1].hint == f"create {templates / 'sms' / 'en' / 'spanish_only.j2'}"


def test_templates_are_not_checked_without_a_folder() -> None:
    assert check("  - {id: a, send: {channels: [sms], template: nowhere}}\n", None) == []


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("uses_unknown_field", "template sms/en/uses_unknown_field.j2:1 uses `event.projected`"),
        (
            "uses_unknown_name",
            "template sms/en/uses_unknown_name.j2:1 uses `account`, which messages do not have",
        ),
        ("broken", "template sms/en/broken.j2:1 does not compile"),
        (
            "unknown_filter",  # the template's own line, after its path
            "template sms/en/unknown_filter.j2:2 does not compile: "
            "No filter named 'mony' (did you mean `money`?)",
        ),
    ],
)
def test_template_variables_the_context_lacks(templates: Path, template: str, message: str) -> None:
    errors = check(f"  - {{id: a, send: {{channels: [sms], template: {template}}}}}\n", templates)
    assert len(errors) == 1 and errors[0].message.startswith(message), errors
    assert (errors[0].line, errors[0].column) == (6, 47)


def test_locally_set_names_in_templates_are_fine(templates: Path) -> None:
    assert check("  - {id: a, send: {channels: [sms], template: uses_loop}}\n", templates) == []


def test_compile_journey_refuses_an_invalid_definition() -> None:
    loaded = load_journey_with_positions(HEAD + "  - {id: a, wait: 1d, next: nowhere}\n", "j.yaml")
    with pytest.raises(JourneyErrors, match="unknown step `nowhere`"):
        compile_journey(loaded.definition, version=1, content_hash="x", templates_dir=None)


def test_content_hash_ignores_formatting_but_not_content() -> None:
    compact = HEAD + "  - {id: a, wait: 3d}\n"
    spaced = """\
# a comment
purpose: informational   # key order differs
id: sample
trigger: [{event: bill.projection_updated}]
entry: {reentry: after_exit}
steps:
  - id: a
    wait: {duration: 72h}
"""
    assert content_hash(compact) == content_hash(spaced)
    assert len(content_hash(compact)) == 64
    assert content_hash(compact) != content_hash(compact.replace("3d", "4d"))
    loaded = load_journey_with_positions(compact, "j.yaml")
    assert definition_hash(loaded.definition) == content_hash(compact)


# --- purpose governance: `safety` skips consent, so it carries safety content on safety triggers only
SAFETY_HEAD = """\
id: sample
purpose: safety
trigger:
  event: outage.detected
steps:
"""


@pytest.fixture
def safety_templates(templates: Path) -> Path:
    for channel, locale, name, body in [
        ("sms", "en", "outage", "Purpose: safety\nPower is out at your address."),
        ("sms", "es", "outage", "Purpose: safety\nNo hay luz en su domicilio."),
        ("email", "en", "outage", "Purpose: safety\nSubject: Outage\nPower is out."),
        ("sms", "en", "tips", "Purpose: marketing\nSave with our new plan! Reply STOP to opt out."),
        ("sms", "en", "misspelt", "Purpose: saftey\nPower is out."),
    ]:
        path = templates / channel / locale / f"{name}.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return templates


def test_a_safety_journey_with_safety_triggers_and_templates_is_fine(safety_templates: Path) -> None:
    steps = "  - {id: a, send: {channels: [sms, email], template: outage}}\n"
    assert check(steps, safety_templates, head=SAFETY_HEAD) == []


def test_safety_needs_a_safety_trigger() -> None:
    head = SAFETY_HEAD.replace(
        "  event: outage.detected\n", "  - event: outage.detected\n  - event: bill.issued\n"
    )
    errors = check("  - {id: a, wait: 1d}\n", head=head)
    assert summary(errors) == [
        (
            5,
            12,
            "purpose `safety` needs a safety trigger; `bill.issued` is not a safety event type "
            "(safety event types: outage.*)",
        )
    ]
    assert "marketing content can never go out as safety" in (errors[0].hint or "")


def test_safety_event_types_come_from_the_policy() -> None:
    head = SAFETY_HEAD.replace("outage.detected", "dr.event_scheduled")
    loaded = load_journey_with_positions(head + "  - {id: a, wait: 1d}\n", "j.yaml")
    assert (
        check_journey(loaded.definition, loaded.positions, None, safety_event_types=["outage.*", "dr.*"])
        == []
    )
    refused = check_journey(loaded.definition, loaded.positions, None, safety_event_types=["outage.*"])
    assert [e.line for e in refused] == [4]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("alert", "purpose `safety` needs safety templates; template sms/en/alert.j2 is not marked safety"),
        ("tips", "purpose `safety` needs safety templates; template sms/en/tips.j2 is not marked safety"),
        ("misspelt", "sms/en/misspelt.j2: unknown purpose 'saftey' in the `Purpose:` line"),
    ],
)
def test_safety_needs_templates_marked_safety(safety_templates: Path, template: str, message: str) -> None:
    errors = check(
        f"  - {{id: a, send: {{channels: [sms], template: {template}}}}}\n", safety_templates, SAFETY_HEAD
    )
    assert errors and errors[0].message.startswith(message), errors
    assert (errors[0].line, errors[0].column) == (6, 47)


def test_every_locale_of_a_safety_template_is_marked(safety_templates: Path) -> None:
    (safety_templates / "sms" / "es" / "outage.j2").write_text("Ofertas: ¡ahorre con nuestro plan!")
    errors = check("  - {id: a, send: {channels: [sms], template: outage}}\n", safety_templates, SAFETY_HEAD)
    assert [e.message.split(";")[1] for e in errors] == [
        " template sms/es/outage.j2 is not marked safety (its first line would be `Purpose: safety`)"
    ]


def test_other_purposes_may_send_safety_templates(safety_templates: Path) -> None:
    steps = "  - {id: a, send: {channels: [sms], template: outage}}\n"
    assert (
        check(steps, safety_templates, head=HEAD.replace("bill.projection_updated", "outage.detected")) == []
    )


def test_compile_journey_refuses_marketing_content_as_safety(safety_templates: Path) -> None:
    loaded = load_journey_with_positions(
        SAFETY_HEAD + "  - {id: a, send: {channels: [sms], template: tips}}\n", "j.yaml"
    )
    with pytest.raises(JourneyErrors, match="not marked safety"):
        compile_journey(loaded.definition, version=1, content_hash="x", templates_dir=safety_templates)


PUBLISHED_BEFORE_COHORTS = """\
id: outage_small
purpose: safety
trigger: {event: outage.detected}
entry: {reentry: every_trigger}
steps:
  - id: notice
    send: {channels: [sms, email], template: outage_detected}
"""
# Its hash at 599c637, before cohort mode existed (also pinned in tests/dsl/test_windows.py).
HASH_BEFORE_COHORTS = "a09e7bbb50c8b705b09f7620f0fbd9ff4e60809775a0349afb421c6040cb0c5a"


def test_per_customer_journeys_keep_their_hash_with_or_without_the_mode() -> None:
    assert content_hash(PUBLISHED_BEFORE_COHORTS) == HASH_BEFORE_COHORTS
    explicit = PUBLISHED_BEFORE_COHORTS.replace("purpose:", "mode: per_customer\npurpose:")
    assert content_hash(explicit) == HASH_BEFORE_COHORTS


def test_a_cohort_journey_hashes_its_cohort_block() -> None:
    cohort = PUBLISHED_BEFORE_COHORTS.replace(
        "entry: {reentry: every_trigger}\n",
        "mode: cohort\ncohort: {key: event.incident_id, audience: {grid: true}}\n",
    )
    other_key = cohort.replace("key: event.incident_id", "key: event.cause")
    hashes = {content_hash(cohort), content_hash(other_key), HASH_BEFORE_COHORTS}
    assert len(hashes) == 3


@pytest.mark.parametrize("condition", ["\"'event.projected_amount > 100'\"", '"1"', "\"'yes'\""])
def test_a_condition_that_is_a_value_is_refused_since_it_would_match_everyone(condition: str) -> None:
    steps = f"""\
  - id: pick
    branch:
      - {{when: {condition}, goto: tell}}
      - {{goto: end}}
  - {{id: tell, send: {{channels: [sms], template: alert}}}}
"""
    [error] = check(steps)
    assert "is a value, not a condition" in error.message and error.line == 8


def test_true_and_false_are_conditions() -> None:
    steps = """\
  - id: pick
    branch:
      - {when: "False", goto: tell}
      - {goto: end}
  - {id: tell, send: {channels: [sms], template: alert}}
"""
    assert check(steps) == []
