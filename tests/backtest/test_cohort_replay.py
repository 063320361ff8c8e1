"""A cohort journey's replay in memory (no database): the audience as the log held it at each trigger,
joins, restorations naming places, updates moving waits, exits, and what is not replayed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gridjourney.backtest.cohort_replay import RUN_OVER, CohortReplay, schedule_fires
from gridjourney.backtest.period import parse_period
from gridjourney.dsl.compiler import compile_journey
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schedule import ScheduleSpec
from gridjourney.events.models import StoredEvent
from gridjourney.policy.model import Policy
from gridjourney.workflows.assignment import unit_interval
from tests.backtest.builders import ZONE, at, compiled
from tests.backtest.test_replay import stored

ROOT = Path(__file__).resolve().parents[2]
T0 = at("2026-01-05T12:00:00")
DR = """
id: peak_rewards
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {program: event.program, holdout: 0.25}
  updates: [dr.event_modified]
exit_on: [dr.event_cancelled]
steps:
  - id: notice
    send: {channels: [sms], template: dr_notice}
  - id: before_start
    wait: {until: event.start, before: 1h}
  - id: reminder
    send: {channels: [sms], template: dr_reminder}
"""


def on_the_grid(i: int) -> list[StoredEvent]:
    """Customer c-{i:02d} at premise p-{i}, transformer t-{i % 4}, with an SMS consent."""
    customer_id = f"c-{i:02d}"
    created = T0 - timedelta(days=30)
    return [
        stored(
            "customer.created",
            customer_id,
            created,
            name="Ana",
            phone=f"+1503555{i:04d}",
            time_zone=ZONE,
            premise_id=f"p-{i}",
            transformer_id=f"t-{i % 4}",
            feeder_id="f-1",
        ),
        stored("consent.changed", customer_id, created, channel="sms", purpose="informational", granted=True),
    ]


def replayed(
    journey_text: str | None,
    log: list[StoredEvent],
    policy: Policy,
    canonical_incidents: dict[str, str] | None = None,
) -> CohortReplay:
    if journey_text is None:  # the shipped outage notice
        path = ROOT / "journeys" / "outage_notice.yaml"
        definition = load_journey_with_positions(path.read_text(encoding="utf-8"), str(path)).definition
        journey = compile_journey(definition, version=1, content_hash="test", templates_dir=None)
    else:
        journey = compiled(journey_text)
    replay = CohortReplay(
        journey,
        policy,
        T0 - timedelta(days=1),
        T0 + timedelta(days=5),
        canonical_incidents=canonical_incidents,
    )
    for event in sorted(log, key=lambda e: (e.occurred_at, e.position)):
        replay.feed(event)
    replay.finish()
    return replay


def test_an_outage_run_joins_a_second_report_and_follows_restorations_by_premise(policy: Policy) -> None:
    log = [event for i in range(8) for event in on_the_grid(i)]
    log += [
        stored("outage.detected", None, T0, incident_id="inc-1", transformer_ids=["t-0"]),
        # a second report the incidents projection found to duplicate inc-1: its customers join the run
        stored(
            "outage.detected", None, T0 + timedelta(minutes=1), incident_id="inc-2", transformer_ids=["t-1"]
        ),
        # c-01's power is back within the 5-minute hold: no notice for them
        stored("outage.restored", None, T0 + timedelta(minutes=3), incident_id="inc-1", premise_ids=["p-1"]),
        stored(
            "outage.etr_updated",
            None,
            T0 + timedelta(minutes=30),
            incident_id="inc-1",
            etr="2026-01-05T20:00:00+00:00",
        ),
        stored("outage.restored", None, T0 + timedelta(hours=2), incident_id="inc-1", premise_ids=["p-0"]),
        stored("outage.restored", None, T0 + timedelta(hours=6), incident_id="inc-1"),  # everyone
        stored("outage.detected", None, T0 + timedelta(days=1), incident_id="inc-1", transformer_ids=["t-2"]),
    ]
    report = replayed(None, log, policy, canonical_incidents={"inc-2": "inc-1"}).report

    assert (report.cohort_runs, report.triggers_matched, report.entered) == (1, 3, 4)
    assert report.blocked_by_reentry == {RUN_OVER: 1}  # the run id stays taken once the run is over
    assert report.entry_examples == ["c-00", "c-04", "c-01", "c-05"]
    steps = report.steps
    assert steps["hold"].outcomes == {"event": 1, "timeout": 3}
    assert steps["notice"].messages == {("sms", "outage_detected", "en"): 3}
    assert steps["await_restoration"].outcomes == {"event": 1, "timeout": 2}
    assert steps["still_working"].examples == ["c-04", "c-05"]
    assert steps["await_restoration_later"].outcomes == {"event": 2}
    assert steps["restored"].messages == {("sms", "outage_restored", "en"): 3}
    assert (report.exits, report.still_active) == ({"completed": 4}, 0)
    # the first estimate, at 30 minutes: to the three members waiting for power by then
    etr = report.steps["on_update:outage.etr_updated"]
    assert (etr.examples, etr.messages) == (
        ["c-00", "c-04", "c-05"],
        {("sms", "outage_etr_updated", "en"): 3},
    )
    assert report.not_replayed == []


def test_a_dr_audience_is_the_program_at_the_trigger_and_its_wait_moves_with_the_event(
    policy: Policy,
) -> None:
    log = [event for i in range(12) for event in on_the_grid(i)]
    log += [
        stored("program.enrolled", f"c-{i:02d}", T0 - timedelta(days=10), program="ptr")
        for i in range(0, 12, 2)
    ]
    log += [
        stored("program.unenrolled", "c-02", T0 - timedelta(days=1), program="ptr"),
        stored("customer.erased", "c-04", T0 - timedelta(days=1)),
        stored("program.enrolled", "c-11", T0 + timedelta(minutes=5), program="ptr"),  # too late
        stored(
            "dr.event_scheduled",
            None,
            T0,
            dr_event_id="dr-1",
            program="ptr",
            start=(T0 + timedelta(days=1, hours=3)).isoformat(),
            end=(T0 + timedelta(days=1, hours=6)).isoformat(),
        ),
        # moved to 22:00: the reminder an hour before falls in quiet hours and waits for 08:00
        stored(
            "dr.event_modified",
            None,
            T0 + timedelta(hours=2),
            dr_event_id="dr-1",
            modification_number=1,
            start=(T0 + timedelta(days=1, hours=10)).isoformat(),
            end=(T0 + timedelta(days=1, hours=12)).isoformat(),
        ),
        stored(
            "dr.event_scheduled",
            None,
            T0 + timedelta(hours=1),
            dr_event_id="dr-2",
            program="ptr",
            start=(T0 + timedelta(days=2)).isoformat(),
            end=(T0 + timedelta(days=2, hours=2)).isoformat(),
        ),
        stored("dr.event_cancelled", None, T0 + timedelta(hours=3), dr_event_id="dr-2"),
    ]
    report = replayed(DR, log, policy).report

    members = ["c-00", "c-06", "c-08", "c-10"]
    later = [*members, "c-11"]  # enrolled between the two events: in dr-2's audience only
    assert (report.cohort_runs, report.entered) == (2, len(members) + len(later))
    assert report.entry_examples == members + later
    held = [
        (run, c)
        for run, audience in (("dr-1", members), ("dr-2", later))
        for c in audience
        if unit_interval("holdout", f"cohort:peak_rewards:{run}", c) < 0.25
    ]
    assert report.holdout == len(held)
    notice, reminder = report.steps["notice"], report.steps["reminder"]
    assert notice.held_out == len(held)
    assert sum(notice.messages.values()) == report.entered - len(held)
    dr_1_held = sum(1 for run, _ in held if run == "dr-1")
    # only dr-1's members reach the reminder (dr-2 was cancelled): deferred to 08:00, then sent
    assert reminder.reached == len(members)
    assert (reminder.deferred, sum(reminder.messages.values())) == (len(members) - dr_1_held,) * 2
    assert report.exits == {"completed": len(members), "dr.event_cancelled": len(later)}
    assert report.not_replayed == []


WINTER = """
id: winter_tips
purpose: informational
trigger:
  schedule: {month: november, day: [1, 15], at: "10:00"}
  audience: "customer.heating == 'electric'"
steps:
  - id: tips
    send: {channels: [sms], template: winter_tips}
  - id: a_week_later
    wait: 7d
  - id: checklist
    send: {channels: [sms], template: winter_checklist}
"""


def test_a_schedule_fires_a_run_over_the_audience_as_it_is_at_each_fire(policy: Policy) -> None:
    day = at("2026-10-01T00:00:00")
    log = [event for i in range(6) for event in on_the_grid(i)]
    log += [
        stored("customer.updated", f"c-{i:02d}", day, attributes={"heating": "electric"}) for i in (0, 2, 4)
    ]
    log += [
        stored("customer.updated", "c-01", at("2026-11-05T09:00:00"), attributes={"heating": "electric"}),
        stored("customer.erased", "c-04", at("2026-11-12T09:00:00")),
        *on_the_grid(6),
        # 10:00 in the utility's zone (policy.yaml: America/Chicago) is 16:00 UTC: c-06 is electric by
        # the second fire, c-03 only after it
        stored("customer.updated", "c-06", at("2026-11-15T15:30:00"), attributes={"heating": "electric"}),
        stored("customer.updated", "c-03", at("2026-11-15T16:30:00"), attributes={"heating": "electric"}),
    ]
    replay = CohortReplay(compiled(WINTER), policy, at("2026-11-01T00:00:00"), at("2026-12-01T00:00:00"))
    for event in sorted(log, key=lambda e: (e.occurred_at, e.position)):
        replay.feed(event)
    report = replay.finish()

    assert (report.triggers_matched, report.cohort_runs) == (2, 2)
    assert report.entry_examples == ["c-00", "c-02", "c-04", "c-00", "c-01", "c-02", "c-06"]
    assert report.steps["tips"].messages == {("sms", "winter_tips", "en"): 7}
    assert report.steps["checklist"].messages == {("sms", "winter_checklist", "en"): 7}
    assert report.exits == {"completed": 7}


def test_a_moved_then_cancelled_dr_event_tells_those_already_told(policy: Policy) -> None:
    log = [event for i in range(4) for event in on_the_grid(i)]
    log += [
        stored("program.enrolled", f"c-{i:02d}", T0 - timedelta(days=10), program="ptr") for i in range(4)
    ]
    # c-03 gets no texts: told nothing, it hears of the move as its first notice instead
    log.append(
        stored(
            "consent.changed",
            "c-03",
            T0 - timedelta(days=2),
            channel="sms",
            purpose="informational",
            granted=False,
        )
    )
    window = {
        "start": (T0 + timedelta(days=1)).isoformat(),
        "end": (T0 + timedelta(days=1, hours=2)).isoformat(),
    }
    log += [
        stored("dr.event_scheduled", None, T0, dr_event_id="dr-1", program="ptr", **window),
        stored(
            "consent.changed",
            "c-03",
            T0 + timedelta(hours=1),
            channel="sms",
            purpose="informational",
            granted=True,
        ),
        stored(
            "dr.event_modified",
            None,
            T0 + timedelta(hours=2),
            dr_event_id="dr-1",
            modification_number=1,
            start=(T0 + timedelta(days=1, hours=1)).isoformat(),
            end=(T0 + timedelta(days=1, hours=3)).isoformat(),
        ),
        stored("dr.event_cancelled", None, T0 + timedelta(hours=3), dr_event_id="dr-1"),
    ]
    path = ROOT / "journeys" / "dr_event.yaml"
    definition = load_journey_with_positions(path.read_text(encoding="utf-8"), str(path)).definition
    journey = compile_journey(definition, version=1, content_hash="test", templates_dir=None)
    replay = CohortReplay(journey, policy, T0 - timedelta(days=1), T0 + timedelta(days=5))
    for event in sorted(log, key=lambda e: (e.occurred_at, e.position)):
        replay.feed(event)
    report = replay.finish()

    held = [c for c in report.entry_examples if unit_interval("holdout", "cohort:dr_event:dr-1", c) < 0.1]
    told = [c for c in report.entry_examples if c not in held and c != "c-03"]
    notice, moved = report.steps["day_ahead_notice"], report.steps["on_update:dr.event_modified"]
    assert notice.refused == (0 if "c-03" in held else 1)
    # the told hear of the move; c-03, told nothing, gets the day-ahead notice in its place
    assert moved.messages[("sms", "dr_event_moved", "en")] == len(told)
    assert moved.messages[("sms", "dr_day_ahead", "en")] == (0 if "c-03" in held else 1)
    cancelled = report.steps["on_update:dr.event_cancelled"]
    assert sum(cancelled.messages.values()) == len(told) + (0 if "c-03" in held else 1)
    assert report.exits == {"dr.event_cancelled": 4} and report.steps["reminder"].reached == 0


def test_a_weekly_schedule_fires_every_week_of_nine_years() -> None:
    """2018 to 2026: every Monday, the last ones too (the fires once stopped 8 years after the start)."""
    weekly = ScheduleSpec.model_validate({"at": "09:00", "weekday": "monday", "zone": "UTC"})
    fires = schedule_fires(weekly, "America/Chicago", at("2018-01-01T00:00:00"), at("2027-01-01T00:00:00"))
    mondays = [date(2018, 1, 1) + timedelta(days=7 * n) for n in range(470)]
    expected = [datetime(d.year, d.month, d.day, 9, tzinfo=UTC) for d in mondays if d.year < 2027]
    assert fires == expected
    assert len(fires) == 470 and fires[-1] == at("2026-12-28T09:00:00")


def test_every_period_the_api_takes_fires_in_full_or_is_refused_naming_the_longest() -> None:
    """1900 to 2198 (events/fields.py's years): a yearly schedule's 299 fires; a weekly one's 15,600
    runs are refused with the day the longest period that fits ends."""
    start, end = parse_period("1900-01-01", "2198-12-31")
    yearly = ScheduleSpec.model_validate({"at": "10:00", "month": "november", "day": 1, "zone": "UTC"})
    fires = schedule_fires(yearly, "America/Chicago", start, end)
    assert [f.year for f in fires] == list(range(1900, 2199))
    weekly = ScheduleSpec.model_validate({"at": "09:00", "weekday": "monday", "zone": "UTC"})
    with pytest.raises(ValueError, match=r"from 1900-01-01, to 1938-04-25 at most"):
        schedule_fires(weekly, "America/Chicago", start, end)
