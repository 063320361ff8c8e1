"""The `schedule` trigger: what it compiles to, when it fires, and what is refused at its position."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions
from gridjourney.dsl.schedule import ScheduleSpec, fire_times, schedule_problems

# The schedule is on line 4, the audience on line 5; steps start on line 7.
HEAD = """\
id: winter
purpose: marketing
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: "customer.heating == 'electric'"
steps:
"""
SEND = "  - {id: tips, send: {channels: [sms], template: tips}}\n"


def check(text: str) -> list[JourneyError]:
    loaded = load_journey_with_positions(text, "w.yaml")
    return check_journey(loaded.definition, loaded.positions, None)


def located(errors: list[JourneyError]) -> list[str]:
    return [str(e).split(" (hint: ")[0] for e in errors]


def test_a_scheduled_journey_is_a_cohort_over_its_audience() -> None:
    loaded = load_journey_with_positions(HEAD + SEND, "w.yaml")
    definition = loaded.definition
    assert definition.mode == "cohort" and definition.cohort is None
    trigger = definition.schedule
    assert trigger is not None and trigger.schedule is not None
    assert trigger.schedule.cron_expression() == "0 10 1 11 *"
    assert trigger.audience == "customer.heating == 'electric'"
    assert check(HEAD + SEND) == []


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ('{cron: "0  10 1 11 *"}', "0 10 1 11 *"),
        ('{at: "7:05"}', "5 7 * * *"),
        ('{at: "18:30", weekday: [friday, mon]}', "30 18 * * 1,5"),
        ('{at: "09:00", month: [dec, 1, february], day: [15, 1]}', "0 9 1,15 1,2,12 *"),
    ],
)
def test_calendar_and_cron_forms_give_one_cron(schedule: str, cron: str) -> None:
    text = HEAD.replace('{month: november, day: 1, at: "10:00"}', schedule) + SEND
    trigger = load_journey_with_positions(text, "w.yaml").definition.schedule
    assert trigger is not None and trigger.schedule is not None
    assert trigger.schedule.cron_expression() == cron
    assert check(text) == []


def test_fire_times_are_in_the_zone_across_daylight_saving() -> None:
    spec = ScheduleSpec.model_validate({"at": "10:00", "weekday": "sunday"})
    after = datetime(2026, 10, 24, tzinfo=UTC)
    fires = fire_times(spec, "America/Chicago", after, 3)
    assert [f.strftime("%Y-%m-%d %H:%M %Z") for f in fires] == [
        "2026-10-25 10:00 CDT",
        "2026-11-01 10:00 CST",  # the clocks went back that night: still 10:00 local
        "2026-11-08 10:00 CST",
    ]
    assert [f.astimezone(UTC).hour for f in fires] == [15, 16, 16]
    leap = ScheduleSpec.model_validate({"cron": "0 8 29 2 *", "zone": "Europe/London"})
    assert fire_times(leap, "America/Chicago", after, 2)[0].strftime("%Y-%m-%d %H:%M") == "2028-02-29 08:00"


def test_fire_times_go_on_past_the_never_fires_horizon() -> None:
    """The horizon bounds the gap between two fires, not the span of all: 1,000 weekly fires reach 19
    years on, and a 29 February schedule goes over 2100 (no leap day) to 2104."""
    weekly = ScheduleSpec.model_validate({"at": "09:00", "weekday": "monday"})
    fires = fire_times(weekly, "America/Chicago", datetime(2018, 1, 1, tzinfo=UTC), 1000)
    assert len(fires) == 1000
    assert {later - earlier for earlier, later in itertools.pairwise(fires)} == {timedelta(days=7)}
    assert fires[-1].strftime("%Y-%m-%d %H:%M %a") == "2037-02-23 09:00 Mon"
    leap = ScheduleSpec.model_validate({"cron": "0 8 29 2 *", "zone": "Europe/London"})
    leap_fires = fire_times(leap, "America/Chicago", datetime(2090, 1, 1, tzinfo=UTC), 3)
    assert [f.year for f in leap_fires] == [2092, 2096, 2104]


@pytest.mark.parametrize(
    ("schedule", "position", "message"),
    [
        ('{month: february, day: 30, at: "10:00"}', "4:13", "never fires: no month it names has that day"),
        ('{cron: "0 10 31 4,6 *"}', "4:20", "never fires"),
        (
            '{cron: "*/15 9 * * *"}',
            "4:20",
            "fires 4 times an hour (minutes 0, 15, 30, 45): more often than hourly",
        ),
        ('{cron: "0,30 * * * *"}', "4:20", "more often than hourly"),
        ('{cron: "0 10 * *"}', "4:20", "has 4 fields; a schedule's cron has 5"),
        ('{cron: "0 10 L * *"}', "4:20", "uses cron extensions"),
        ('{cron: "0 10 1-7 * MON"}', "4:20", "names both days of the month (1-7) and days of the week (MON)"),
        ('{cron: "0 25 * * *"}', "4:20", "is not a cron expression"),
        ('{cron: "0 10 32 11 *"}', "4:20", "is not a cron expression: bad day-of-month"),
        ('{cron: "0 10 1-31/0 11 *"}', "4:20", "is not a cron expression: bad day-of-month"),
        ('{at: "10:00", zone: America/Chicgo}', "4:33", "unknown time zone `America/Chicgo`"),
    ],
)
def test_schedules_that_cannot_run_are_refused_with_the_reason(
    schedule: str, position: str, message: str
) -> None:
    text = HEAD.replace('{month: november, day: 1, at: "10:00"}', schedule) + SEND
    errors = check(text)
    assert len(errors) == 1, errors
    assert located(errors)[0].startswith(f"w.yaml:{position}: ")
    assert message in str(errors[0])


def test_an_unknown_zone_gets_a_did_you_mean() -> None:
    problems = schedule_problems(ScheduleSpec.model_validate({"at": "10:00", "zone": "Europe/Lodnon"}), "UTC")
    assert [p.hint for p in problems] == ["did you mean `Europe/London`?"]
    default = schedule_problems(ScheduleSpec.model_validate({"at": "10:00"}), "Mars/Olympus")
    assert [p.message for p in default] == ["unknown time zone `Mars/Olympus`"]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ('{cron: "0 10 1 11 *", at: "10:00"}', "give either `cron`"),
        ("{month: november}", "give either `cron`"),
        ('{at: "25:00"}', "is not a time of day"),
        ('{at: "10:00", day: 1, weekday: monday}', "give `day` (of the month) or `weekday`, not both"),
        ('{at: "10:00", month: brumaire}', "`brumaire` is not one of january"),
        ('{at: "10:00", day: 32}', "32 is not a day of the month (1-31)"),
        ('{cron: "0 10 1 11 *", month: 11}', "`month` goes with `at`"),
        ('{cron: "' + ",".join(["0"] * 200) + ' 10 1 11 *"}', "at most 200 characters"),
        ('{at: "10:00", month: [1,2,3,4,5,6,7,8,9,10,11,12,1]}', "at most 12 items"),
    ],
)
def test_malformed_schedules_are_refused_at_load(schedule: str, expected: str) -> None:
    text = HEAD.replace('{month: november, day: 1, at: "10:00"}', schedule) + SEND
    with pytest.raises(JourneyErrors) as raised:
        load_journey_with_positions(text, "w.yaml")
    assert expected in str(raised.value.errors[0])
    assert str(raised.value.errors[0]).startswith("w.yaml:4:")


def test_the_audience_is_checked_against_the_declared_attributes() -> None:
    errors = check(HEAD.replace("customer.heating == 'electric'", "customer.heatng == 'electric'") + SEND)
    assert len(errors) == 1
    assert located(errors)[0].startswith("w.yaml:5:23: expression \"customer.heatng == 'electric'\": ")
    assert "did you mean `heating`?" in errors[0].message


def test_schedule_and_audience_go_together() -> None:
    text = HEAD.replace("  audience: \"customer.heating == 'electric'\"\n", "") + SEND
    with pytest.raises(JourneyErrors) as raised:
        load_journey_with_positions(text, "w.yaml")
    assert "`schedule` and `audience` go together" in str(raised.value)
    both = HEAD.replace("trigger:\n", "trigger:\n  event: bill.issued\n") + SEND
    with pytest.raises(JourneyErrors, match="an `event` or a `schedule`, not both"):
        load_journey_with_positions(both, "w.yaml")
    per_customer = "mode: per_customer\n" + HEAD + SEND
    with pytest.raises(JourneyErrors, match="a schedule trigger runs as a cohort"):
        load_journey_with_positions(per_customer, "w.yaml")


def test_what_a_scheduled_run_cannot_do_is_refused_at_its_position() -> None:
    text = (
        HEAD.replace("steps:\n", "entry: {reentry: once}\nexit_on: [bill.issued]\nsteps:\n")
        + SEND
        + "  - {id: later, wait: {until_local_time: '09:00'}}\n"
        + "  - {id: booked, wait_for: {event: audit.booked, timeout: 7d}}\n"
    )
    assert located(check(text)) == [
        "w.yaml:6:9: `entry.reentry` is per-customer; cohort mode has no entries",
        "w.yaml:7:11: a scheduled run is started by the clock and hears no events: nothing can end it early",
        "w.yaml:10:24: `until_local_time` waits for each member's own local time; a cohort waits once for all"
        " its members",
        "w.yaml:11:18: a scheduled run is started by the clock and hears no events: a `wait_for` would always"
        " time out",
    ]


def test_a_second_trigger_a_when_and_a_cohort_block_are_refused() -> None:
    text = (
        HEAD.replace("  audience:", "  when: \"event.journey_id == 'winter'\"\n  audience:").replace(
            "steps:\n", "cohort:\n  key: event.scheduled_for\n  audience: {where: 'True'}\nsteps:\n"
        )
        + SEND
    )
    messages = [e.message for e in check(text)]
    assert "a schedule has no event for `when` to test" in messages
    assert any("it has no `cohort` block" in m for m in messages)
    two = (
        """\
id: winter
purpose: marketing
trigger:
  - event: bill.issued
  - schedule: {at: "10:00"}
    audience: "True"
steps:
"""
        + SEND
    )
    assert located(check(two)) == ["w.yaml:4:5: a journey with a `schedule` trigger has no other trigger"]


def test_validate_and_preview_show_the_next_runs_in_the_utilitys_zone() -> None:
    from typer.testing import CliRunner

    from gridjourney.cli.journeys import journeys_app
    from gridjourney.dsl.schedule_checks import utility_zone

    root = Path(__file__).resolve().parents[2]
    journey = root / "journeys" / "winter_prep.yaml"
    zone = utility_zone()
    trigger = load_journey_with_positions(journey.read_text(), str(journey)).definition.schedule
    assert trigger is not None and trigger.schedule is not None
    nexts = [
        f.strftime("%Y-%m-%d %H:%M %Z") for f in fire_times(trigger.schedule, zone, datetime.now(UTC), 3)
    ]
    expected = f"'0 10 1 11 *' in {zone}, next runs: {', '.join(nexts)}"
    templates = ["--templates", str(root / "templates")]
    validated = CliRunner().invoke(journeys_app, ["validate", str(journey), *templates])
    assert validated.exit_code == 0, validated.stderr
    assert f"cohort: one run per fire of {expected})" in validated.stdout
    previewed = CliRunner().invoke(journeys_app, ["preview", str(journey), *templates])
    assert previewed.exit_code == 0, previewed.stderr
    assert previewed.stdout.splitlines()[0] == (
        f"== schedule: {expected}; audience: customer.heating == 'electric'"
    )


@pytest.mark.parametrize(
    ("trigger", "valid"),
    [
        ({"schedule": {"cron": "0 10 1 11 *", "zone": "Europe/London"}, "audience": "True"}, True),
        ({"schedule": {"at": "9:30", "month": ["nov", 12], "day": 1}, "audience": "True"}, True),
        ({"schedule": {"at": "10:00", "weekday": "monday"}, "audience": "True"}, True),
        ({"schedule": {"at": "25:00"}, "audience": "True"}, False),
        ({"schedule": {"at": "10:00", "month": "brumaire"}, "audience": "True"}, False),
        ({"schedule": {"at": "10:00"}}, False),
    ],
)
def test_the_json_schema_knows_the_schedule_trigger(trigger: dict[str, object], valid: bool) -> None:
    import jsonschema

    from gridjourney.dsl.json_schema import journey_json_schema

    journey = {"id": "w", "purpose": "marketing", "trigger": trigger, "steps": [{"id": "e", "end": True}]}
    validator = jsonschema.Draft202012Validator(journey_json_schema())
    assert validator.is_valid(journey) is valid
