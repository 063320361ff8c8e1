"""JourneyWorkflow: split arms' `vars` and the event that ended a `wait_for` reach the later messages,
and a conditional `exit_on` ends the run only when its condition holds.

Time-skipping test server with the in-memory activity stand-ins (tests/workflows/standins.py).
"""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from gridjourney.activities.context import CustomerRecord
from gridjourney.activities.send_content import outgoing_message
from gridjourney.dsl.schema import CompiledJourney, SplitStep, VarValue
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, SendOutcome
from gridjourney.workflows.decisions import choose_split
from tests.workflows.helpers import finish, start, state, waiting_at
from tests.workflows.standins import StandIns, compiled, event

AB_SUBJECT = """
id: budget_billing_invite
purpose: marketing
trigger: bill.issued
steps:
  - id: pick_subject
    split:
      - {weight: 50, goto: invite, label: save, vars: {subject: "Save on your bill"}}
      - {weight: 50, goto: invite, label: lower, vars: {subject: "Your bill, lower"}}
  - id: invite
    send: {channels: [email], template: budget_invite}
  - id: pause
    wait: 2d
  - id: reminder
    send: {channels: [email], template: budget_invite}
"""

SAVINGS_WATCH = """
id: savings_watch
purpose: informational
trigger: bill.projection_updated
exit_on:
  - bill.issued
  - {event: usage.reduced, when: "event.kwh_saved >= 50 and trigger.days_left > 3"}
steps:
  - id: alert
    send: {channels: [sms], template: high_bill_alert}
  - id: pause
    wait: 3d
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


def one_customer_per_arm(
    journey: CompiledJourney,
) -> dict[str | None, tuple[str, dict[str, VarValue] | None]]:
    """Arm label → a customer the split sends down it, and the arm's vars."""
    split = journey.step("pick_subject")
    assert isinstance(split, SplitStep)
    by_arm: dict[str | None, tuple[str, dict[str, VarValue] | None]] = {}
    for n in range(100):
        arm = choose_split(split, journey.journey_id, f"c-{n}")
        by_arm.setdefault(arm.label, (f"c-{n}", arm.vars))
    return by_arm


async def test_each_arm_s_vars_reach_every_later_message(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    journey = compiled(AB_SUBJECT)
    by_arm = one_customer_per_arm(journey)
    for customer, _ in by_arm.values():
        handle = await start(env, journey, customer)
        assert (await finish(env, handle)).status == "completed"
    for label, (customer, arm_vars) in by_arm.items():
        sent = [request for request in standins.send_requests if request.customer_id == customer]
        assert [request.step_id for request in sent] == ["invite", "reminder"]
        assert all(request.variables["vars"] == arm_vars for request in sent), label
    assert set(by_arm) == {"save", "lower"}


async def test_one_template_renders_each_arm_s_subject(
    env: WorkflowEnvironment, standins: StandIns, tmp_path: Path
) -> None:
    """What the workflow passes renders through the send activity's own message builder."""
    template = tmp_path / "email" / "en" / "budget_invite.j2"
    template.parent.mkdir(parents=True)
    template.write_text("Subject: {{ vars.subject }}\n\nHello {{ customer.name }}", encoding="utf-8")
    journey = compiled(AB_SUBJECT)
    for customer, _ in one_customer_per_arm(journey).values():
        await finish(env, await start(env, journey, customer))
    subjects = set()
    for request in standins.send_requests:
        record = CustomerRecord(customer_id=request.customer_id, name="Ana", email="ana@example.com")
        built = outgoing_message(tmp_path, request, record, "email", "ana@example.com", None)
        assert not isinstance(built, SendOutcome), built
        message, _locale = built
        assert message.subject == request.variables["vars"]["subject"]
        subjects.add(message.subject)
    assert subjects == {"Save on your bill", "Your bill, lower"}


async def test_a_conditional_exit_waits_for_its_condition(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    trigger = event("bill.projection_updated", "c-1", days_left=12)
    handle = await start(env, compiled(SAVINGS_WATCH), "c-1", trigger)
    await waiting_at(handle, "pause")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=20.0, period_days=7))
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=35.0))  # no period_days
    still = await state(handle)
    assert (still.status, still.current_step) == ("active", "pause")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", "c-1", kwh_saved=60.0, period_days=7))
    final = await finish(env, handle)
    assert (final.status, final.exit_reason) == ("exited", "usage.reduced")
    assert standins.sent_templates() == ["high_bill_alert"]
    # a run that took no split sends exactly the variables it always did
    assert set(standins.send_requests[0].variables) == {"event", "journey"}


async def test_the_plain_event_type_still_exits_at_once(env: WorkflowEnvironment, standins: StandIns) -> None:
    trigger = event("bill.projection_updated", "c-2", days_left=12)
    handle = await start(env, compiled(SAVINGS_WATCH), "c-2", trigger)
    await waiting_at(handle, "pause")
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("bill.issued", "c-2", amount=140.0))
    final = await finish(env, handle)
    assert (final.status, final.exit_reason) == ("exited", "bill.issued")


AUDIT_OFFER = """
id: audit_offer
purpose: marketing
trigger: bill.issued
steps:
  - id: offer
    send: {channels: [sms], template: audit_offer}
  - id: await_booking
    wait_for: {event: audit.booked, timeout: 14d, on_event: confirm, on_timeout: end}
  - id: confirm
    send: {channels: [sms], template: audit_confirm}
"""


async def test_the_confirmation_has_the_booking_that_arrived(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    handle = await start(env, compiled(AUDIT_OFFER), "c-3")
    await waiting_at(handle, "await_booking")
    booked = event(
        "audit.booked", "c-3", audit_id="AU-17", scheduled_for="2026-12-03T15:00:00+00:00", kind="in_home"
    )
    await handle.signal(JOURNEY_EVENT_SIGNAL, booked)
    assert (await finish(env, handle)).status == "completed"
    offer, confirm = standins.send_requests
    assert "waited_event" not in offer.variables
    assert confirm.variables["waited_event"] == booked.namespace()
    assert confirm.variables["waited_event"]["scheduled_for"] == "2026-12-03T15:00:00+00:00"
