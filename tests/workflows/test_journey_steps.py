"""JourneyWorkflow step by step, in the time-skipping test server.

The activities are in-memory stand-ins registered under the real activity names
(tests/workflows/standins.py): this isolates the interpreter. The real activities, which need
Postgres and the SMS stand-in, are covered by the integration tests.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.assignment import in_holdout, split_arm
from gridjourney.workflows.contracts import CustomerContext
from tests.workflows.helpers import finish, start, waiting_at
from tests.workflows.standins import StandIns, compiled

THREE_DAYS = """
id: three_days
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - id: alert
    send: {channels: [sms, email], template: high_bill_alert}
  - id: pause
    wait: 3d
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


async def test_multi_day_wait_passes_and_the_query_shows_it(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    handle = await start(env, compiled(THREE_DAYS))
    waiting = await waiting_at(handle, "pause")
    assert waiting.status == "active" and waiting.waiting_for is None
    assert [step.step_id for step in waiting.steps_taken] == ["alert"]
    assert waiting.entered_at is not None and waiting.waiting_until is not None
    assert waiting.waiting_until - waiting.entered_at >= timedelta(days=3)

    final = await finish(env, handle)
    assert final.status == "completed" and final.current_step is None
    assert standins.sent_templates() == ["high_bill_alert", "saving_tips"]
    assert standins.step_time("tips") - standins.step_time("alert") >= timedelta(days=3)
    assert [record.type for record in standins.records] == [
        "journey.entered",
        *["journey.step_completed"] * 3,
        "journey.exited",
    ]
    assert standins.of_type("journey.exited")[0].payload["reason"] == "completed"
    # idempotency keys: workflow id + trigger + step + customer; all event ids distinct
    assert all(send.idempotency_key.startswith(f"{handle.id}:") for send in standins.sends)
    assert len({record.event_id for record in standins.records}) == len(standins.records)


async def test_until_local_time_uses_the_customer_zone(env: WorkflowEnvironment, standins: StandIns) -> None:
    standins.customers["c-1"] = CustomerContext(customer_id="c-1", time_zone="America/Los_Angeles")
    journey = compiled(
        """
id: morning
purpose: informational
trigger: {event: customer.created}
steps:
  - id: next_morning
    wait: {until_local_time: "09:30"}
  - id: hello
    send: {channels: [sms], template: welcome}
"""
    )
    handle = await start(env, journey)
    await finish(env, handle)
    entered = standins.of_type("journey.entered")[0].occurred_at
    woke = standins.step_time("next_morning").astimezone(ZoneInfo("America/Los_Angeles"))
    assert (woke.hour, woke.minute) == (9, 30)
    assert timedelta(0) <= woke - entered <= timedelta(days=1)


BRANCHING = """
id: branching
purpose: marketing
trigger: {event: customer.created}
steps:
  - id: remember
    update: {attribute: plan, value: ev}
  - id: route
    branch:
      - when: "customer.sqft > 1"
        goto: never
      - when: "customer.plan == 'ev' and journey.id == 'branching'"
        goto: test
      - goto: never
  - id: never
    send: {channels: [sms], template: never}
    next: end
  - id: test
    split:
      - {weight: 1, goto: arm_a, label: a}
      - {weight: 3, goto: arm_b, label: b}
  - id: arm_a
    send: {channels: [sms], template: arm_a}
    next: end
  - id: arm_b
    send: {channels: [sms], template: arm_b}
"""


async def test_update_branch_and_split(env: WorkflowEnvironment, standins: StandIns) -> None:
    journey = compiled(BRANCHING)
    await finish(env, await start(env, journey, "c-7"))

    [update] = standins.updates
    assert (update.customer_id, update.attribute, update.value) == ("c-7", "plan", "ev")
    expected_arm = split_arm([("a", 1.0), ("b", 3.0)], "branching", "test", "c-7")
    assert standins.steps() == [
        ("remember", "updated"),
        ("route", "test"),  # the failing first condition counted as false
        ("test", expected_arm),
        (f"arm_{expected_arm}", "sent:sms"),
    ]
    # the update activity ran once and wrote an event id of its own
    assert update.event_id not in {record.event_id for record in standins.records}


async def test_split_is_stable_and_weighted() -> None:
    arms = [("a", 1.0), ("b", 3.0)]
    picks = [split_arm(arms, "j", "s", f"c-{n}") for n in range(4000)]
    assert picks == [split_arm(arms, "j", "s", f"c-{n}") for n in range(4000)]
    assert 0.22 < picks.count("a") / len(picks) < 0.28


async def test_holdout_records_every_step_and_sends_nothing(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    journey = compiled(THREE_DAYS.replace("id: three_days", "id: held\nentry: {holdout: 0.5}"))
    customer = next(f"c-{n}" for n in range(100) if in_holdout("held", f"c-{n}", 0.5))
    final = await finish(env, await start(env, journey, customer))
    assert final.holdout and final.status == "completed"
    assert standins.sends == []
    assert standins.steps() == [("alert", "holdout"), ("pause", standins.steps()[1][1]), ("tips", "holdout")]
    assert standins.of_type("journey.entered")[0].payload["holdout"] is True


async def test_holdout_share_is_close_to_the_fraction() -> None:
    held = sum(in_holdout("high_bill_alert", f"cust-{n}", 0.05) for n in range(20000))
    assert 0.04 < held / 20000 < 0.06
    assert not in_holdout("high_bill_alert", "cust-1", 0.0)
