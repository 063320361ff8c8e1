"""`mode: cohort`: what a run over a whole audience refuses, each refusal at its file:line:column."""

from __future__ import annotations

import pytest

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions

# Lines 1-14; steps start on line 15.
DR_HEAD = """\
id: run
mode: cohort
purpose: informational
trigger:
  event: dr.event_scheduled
cohort:
  key: event.dr_event_id
  audience:
    program: event.program
    target: {kw: event.target_kw}
    holdout: 0.1
  updates: [dr.event_modified]
exit_on: [dr.event_cancelled]
steps:
"""
STEPS = """\
  - {id: notice, wait: {until: event.start, before: 1h}}
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
"""


def check(text: str) -> list[JourneyError]:
    loaded = load_journey_with_positions(text, "run.yaml")
    return check_journey(loaded.definition, loaded.positions, None)


def located(errors: list[JourneyError]) -> list[str]:
    """Each error as `file:line:column: message`, without its hint."""
    return [str(e).split(" (hint: ")[0] for e in errors]


def test_a_cohort_journey_with_cohort_steps_is_fine() -> None:
    steps = (
        STEPS
        + """\
  - id: hear
    wait_for: {event: dr.event_modified, timeout: 1d, on_event: notice, on_timeout: route}
  - {id: route, branch: [{when: "customer.segment == 'evening_peak'", goto: split}, {goto: end}]}
  - {id: split, split: [{weight: 1, goto: score}, {weight: 1, goto: end}]}
  - {id: score, score: dr_response}
  - {id: mark, update: {attribute: notified, value: true}}
"""
    )
    assert check(DR_HEAD + steps) == []


def test_a_local_time_wait_is_refused_with_a_hint() -> None:
    errors = check(DR_HEAD + '  - {id: morning, wait: {until_local_time: "09:00"}}\n')
    assert located(errors) == [
        "run.yaml:15:26: `until_local_time` waits for each member's own local time; a cohort waits "
        "once for all its members"
    ]
    assert errors[0].hint is not None and "`until:` a time of the event" in errors[0].hint


def test_a_goal_is_refused() -> None:
    text = DR_HEAD.replace("exit_on:", "goal: {event: dr.event_cancelled, within: 1d}\nexit_on:") + STEPS
    errors = check(text)
    assert located(errors) == [
        "run.yaml:13:1: `goal` tracks each customer's conversion; cohort mode has none"
    ]
    assert errors[0].hint is not None and "cohort.audience.holdout" in errors[0].hint


def test_entry_settings_are_refused_each_at_its_key() -> None:
    entry = "entry: {reentry: once_per_window, window: 30d, holdout: 0.05}\n"
    errors = check(DR_HEAD.replace("exit_on:", entry + "exit_on:") + STEPS)
    assert located(errors) == [
        "run.yaml:13:9: `entry.reentry` is per-customer; cohort mode has no entries",
        "run.yaml:13:35: `entry.window` is per-customer; cohort mode has no entries",
        "run.yaml:13:48: `entry.holdout` is per-customer; cohort mode has no entries",
    ]
    hints = [e.hint or "" for e in errors]
    assert "once per `cohort.key`" in hints[0] and "once per `cohort.key`" in hints[1]
    assert "`cohort.audience.holdout`" in hints[2]


def test_waiting_for_an_event_about_one_customer_is_refused() -> None:
    steps = "  - {id: hear, wait_for: {event: bill.issued, timeout: 1d}}\n"
    errors = check(DR_HEAD + steps)
    assert located(errors) == [
        "run.yaml:15:34: `bill.issued` has no `dr_event_id`, which the cohort key 'event.dr_event_id' "
        "reads: it cannot reach the run"
    ]
    assert errors[0].hint is not None and "per_customer journey" in errors[0].hint


def test_exit_on_an_event_without_the_key_is_refused() -> None:
    errors = check(DR_HEAD.replace("[dr.event_cancelled]", "[dr.event_cancelled, bill.issued]") + STEPS)
    assert located(errors) == [
        "run.yaml:13:31: `bill.issued` has no `dr_event_id`, which the cohort key 'event.dr_event_id' "
        "reads: it cannot reach the run"
    ]


def test_dr_performance_outside_cohort_mode_is_refused() -> None:
    text = """\
id: per_customer
purpose: informational
trigger: {event: dr.event_scheduled}
steps:
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
"""
    errors = check(text)
    assert located(errors) == [
        "run.yaml:5:19: `dr_performance` runs in cohort mode only: it measures the members of a DR event"
    ]
    assert errors[0].hint is not None and "mode: cohort" in errors[0].hint


def test_dr_performance_needs_a_dr_trigger() -> None:
    text = """\
id: outage
mode: cohort
purpose: informational
trigger: {event: outage.detected}
cohort: {key: event.incident_id, audience: {grid: true}}
steps:
  - {id: measure, dr_performance: {credit_per_kwh: 0.5}}
"""
    assert located(check(text)) == [
        "run.yaml:7:19: `dr_performance` measures a DR event; the trigger `outage.detected` is not one"
    ]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("customer.premise_id", "unknown name `customer`; use `event`"),
        ("event.dr_event", "`event` has no field `dr_event`"),
        ("event.dr_event_id.lower()", "calling `event.dr_event_id.lower` is not allowed"),
    ],
)
def test_the_key_is_an_expression_over_the_event(key: str, message: str) -> None:
    errors = check(DR_HEAD.replace("key: event.dr_event_id", f"key: {key}") + STEPS)
    assert errors and all(str(e).startswith("run.yaml:7:") for e in errors)  # the key's line
    assert any(message in e.message for e in errors), errors


def test_the_key_must_read_the_event() -> None:
    errors = check(DR_HEAD.replace("key: event.dr_event_id", "key: \"'all'\"") + STEPS)
    assert "run.yaml:7:8: the cohort key \"'all'\" reads nothing from the triggering event" in located(errors)


def test_the_key_reads_fields_every_trigger_has() -> None:
    two = "trigger:\n  - event: dr.event_scheduled\n  - event: outage.detected"
    text = DR_HEAD.replace("trigger:\n  event: dr.event_scheduled", two)
    errors = check(text + "  - {id: pause, wait: 1h}\n")
    at_the_key = [e.message for e in errors if (e.line, e.column) == (8, 14)]  # at `dr_event_id`
    assert at_the_key[0].startswith("expression 'event.dr_event_id': `event` has no field `dr_event_id`")


@pytest.mark.parametrize(
    ("old", "new", "position", "message"),
    [
        (
            "program: event.program",
            "program: customer.program",
            "9:14",
            "expression 'customer.program': unknown name `customer`; use `event`",
        ),
        (
            "{kw: event.target_kw}",
            "{kw: event.target}",
            "10:24",
            "expression 'event.target': `event` has no field `target`",
        ),
        (
            "holdout: 0.1",
            "holdout: 0.1\n    where: \"journey.id == 'x'\"",
            "12:13",
            "expression \"journey.id == 'x'\": unknown name `journey`; use `customer`, `event`",
        ),
        (
            "holdout: 0.1",
            'holdout: 0.1\n    where: "event.nope > 1"',
            "12:19",
            "expression 'event.nope > 1': `event` has no field `nope`",
        ),
    ],
)
def test_audience_expressions(old: str, new: str, position: str, message: str) -> None:
    errors = check(DR_HEAD.replace(old, new) + STEPS)
    assert len(errors) == 1, errors
    assert located(errors)[0].startswith(f"run.yaml:{position}: {message}")


def test_audience_where_reads_customer_and_event() -> None:
    where = "holdout: 0.1\n    where: \"customer.segment == 'evening_peak' and event.target_kw > 0\""
    assert check(DR_HEAD.replace("holdout: 0.1", where) + STEPS) == []


def test_updates_must_be_known_types_that_carry_the_key() -> None:
    text = DR_HEAD.replace("[dr.event_modified]", "[dr.event_modifed, outage.etr_updated]") + STEPS
    errors = check(text)
    assert located(errors) == [
        "run.yaml:12:13: unknown event type `dr.event_modifed`",
        "run.yaml:12:31: `outage.etr_updated` has no `dr_event_id`, which the cohort key "
        "'event.dr_event_id' reads: it cannot reach the run",
    ]
    assert errors[0].hint is not None and errors[0].hint.startswith("did you mean `dr.event_modified`?")


OUTAGE = """\
id: outage
mode: cohort
purpose: informational
trigger: {event: outage.detected}
cohort:
  key: event.incident_id
  audience: {grid: true}
  on_update:
    - event: outage.etr_updated
      send: {channels: [sms], template: etr}
      at_steps: [waiting]
      moved_by: {field: etr, more_than: 30m}
      at_most_every: 1h
steps:
  - {id: waiting, wait_for: {event: outage.restored, timeout: 4h}}
"""


def test_an_outage_cohort_with_an_update_notice_is_fine() -> None:
    assert check(OUTAGE) == []


@pytest.mark.parametrize(
    ("old", "new", "position", "message"),
    [
        ("at_steps: [waiting]", "at_steps: [waiting, wating]", "11:27", "unknown step `wating`"),
        (
            "- event: outage.etr_updated",
            "- event: bill.issued",
            "9:14",
            "`bill.issued` has no `incident_id`, which the cohort key 'event.incident_id' reads: it "
            "cannot reach the run",
        ),
        (
            "- event: outage.etr_updated",
            "- event: outage.etr",
            "9:14",
            "unknown event type `outage.etr`",
        ),
        (
            "field: etr",
            "field: incident_id",
            "12:25",
            "`incident_id` is not a time field of `outage.etr_updated`",
        ),
        ("field: etr", "field: eta", "12:25", "`eta` is not a time field of `outage.etr_updated`"),
    ],
)
def test_update_notice_problems(old: str, new: str, position: str, message: str) -> None:
    errors = check(OUTAGE.replace(old, new))
    assert located(errors)[0] == f"run.yaml:{position}: {message}", errors


def test_moved_by_names_the_time_fields() -> None:
    errors = check(OUTAGE.replace("field: etr", "field: eta"))
    assert errors[0].hint == "did you mean `etr`? its time fields: etr"


def test_per_customer_journeys_may_still_use_entry_goal_and_local_times() -> None:
    text = """\
id: per_customer
purpose: informational
trigger: {event: bill.projection_updated}
entry: {reentry: once_per_window, window: 30d, holdout: 0.05}
goal: {event: usage.reduced, within: 14d}
exit_on: [bill.issued]
steps:
  - {id: morning, wait: {until_local_time: "09:00"}}
  - {id: hear, wait_for: {event: bill.issued, timeout: 1d}}
"""
    assert check(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "id: run\nmode: cohort\npurpose: informational\ntrigger: {event: dr.event_scheduled}\n"
            "steps:\n  - {id: a, wait: 1d}\n",
            "run.yaml:2:1: mode cohort needs a `cohort` block",
        ),
        (
            "id: run\npurpose: informational\ntrigger: {event: dr.event_scheduled}\n"
            "cohort: {key: event.dr_event_id, audience: {program: event.program}}\n"
            "steps:\n  - {id: a, wait: 1d}\n",
            "run.yaml:4:1: a `cohort` block needs `mode: cohort`",
        ),
        (
            DR_HEAD.replace("    program: event.program\n    target: {kw: event.target_kw}\n", "") + STEPS,
            "run.yaml:9:5: cohort.audience: give the audience a source: `program`, `grid: true` or `where`",
        ),
    ],
)
def test_mode_and_block_go_together_at_load(text: str, expected: str) -> None:
    with pytest.raises(JourneyErrors) as caught:
        load_journey_with_positions(text, "run.yaml")
    assert located(caught.value.errors) == [expected]
    assert caught.value.errors[0].hint is not None and caught.value.errors[0].hint.startswith(
        ("say which event", "add `mode: cohort`", "e.g. `audience:")
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  event: dr.event_scheduled\n",
            '  event: dr.event_scheduled\n  when: "customer.has_smart_thermostat"\n',
            "run.yaml:6:9: expression 'customer.has_smart_thermostat': a cohort's `trigger` is decided once",
        ),
        (
            "until: event.start, before: 1h",
            "until: customer.start, before: 1h",
            "run.yaml:15:32: expression 'customer.start': a cohort's `wait` is decided once",
        ),
    ],
)
def test_what_is_decided_once_per_run_has_no_customer(old: str, new: str, message: str) -> None:
    errors = check((DR_HEAD + STEPS).replace(old, new))
    assert [m for m in located(errors) if "decided once" in m] == [
        message + " for the whole run; it has no `customer`"
    ]


def test_a_wait_for_condition_has_no_customer() -> None:
    steps = '  - {id: hear, wait_for: {event: dr.event_modified, when: "customer.tariff", timeout: 1d}}\n'
    errors = check(DR_HEAD + steps)
    assert located(errors) == [
        "run.yaml:15:59: expression 'customer.tariff': a cohort's `wait_for` is decided once for the whole "
        "run; it has no `customer`"
    ]
    assert errors[0].hint is not None and "cohort.audience.where" in errors[0].hint


def test_a_safety_cohort_cannot_hold_members_out() -> None:
    text = """\
id: outage
mode: cohort
purpose: safety
trigger: {event: outage.detected}
cohort:
  key: event.incident_id
  audience: {grid: true, holdout: 0.1}
steps:
  - {id: hold, wait: 5m}
"""
    errors = check(text)
    assert located(errors) == [
        "run.yaml:7:35: a safety journey cannot hold members out: they would not hear about a hazard"
    ]


DR_NOTICES = DR_HEAD.replace(
    "exit_on:",
    """  on_update:
    - event: dr.event_modified
      send: {channels: [sms], template: dr_event_moved}
      at_steps: [notice]
      changed: [start, end]
    - event: dr.event_cancelled
      send: {channels: [sms], template: dr_event_cancelled}
      at_steps: [notice]
exit_on:""",
)


def test_a_dr_cohort_tells_of_a_move_and_of_the_cancellation_that_ends_it() -> None:
    assert check(DR_NOTICES + STEPS) == []


def test_a_changed_field_the_update_lacks_is_refused_at_its_position() -> None:
    errors = check(DR_NOTICES.replace("changed: [start, end]", "changed: [start, ends]") + STEPS)
    assert located(errors) == ["run.yaml:17:24: `ends` is not a field of `dr.event_modified`"]
    assert errors[0].hint is not None and "`end`" in errors[0].hint
