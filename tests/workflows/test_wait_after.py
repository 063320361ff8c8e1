"""JourneyWorkflow: `wait: {after: ..., duration: ...}` and the date and history functions, on the
time-skipping server with the in-memory stand-ins (tests/workflows/standins.py). The stand-in's
customer context carries the facts the real loader reads (tests/activities/test_context_history.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.functions import history_key
from gridjourney.workflows.contracts import CustomerContext, HistoryQuery
from tests.workflows.helpers import finish, start
from tests.workflows.standins import StandIns, compiled, event

FOLLOW_UP = """
id: past_due_follow_up
purpose: informational
trigger: bill.past_due
steps:
  - id: settle
    wait: {after: event.due_date, duration: 10d}
  - id: choose
    branch:
      - when: 'had("message.sent", within=30d, where=event.journey_id == "past_due_follow_up")'
        goto: end
      - when: 'in_journey("onboarding")'
        goto: end
      - when: 'days_since(event.due_date) >= 10 and local_date() == "{local_date}"'
        goto: remind
  - id: remind
    send: {channels: [sms], template: past_due_reminder}
"""
REMINDED = history_key("message.sent", "event.journey_id == 'past_due_follow_up'")


async def run_on_the_day(env: WorkflowEnvironment, standins: StandIns, context: CustomerContext) -> datetime:
    """Runs the journey for the customer of `context` (facts as loaded), due 4 days before now; the
    moment the wait ended."""
    started = await env.get_current_time()  # the server's clock moves on with each finished run
    due = started - timedelta(days=4)
    woken = due + timedelta(days=10)
    # local_date() reads the customer's zone: Auckland is up to a day ahead of UTC
    local_date = woken.astimezone(ZoneInfo("Pacific/Auckland")).date().isoformat()
    journey = compiled(FOLLOW_UP.replace("{local_date}", local_date))
    standins.customers[context.customer_id] = context.model_copy(update={"local_zone": "Pacific/Auckland"})
    trigger = event("bill.past_due", context.customer_id, started, due_date=due.isoformat(), amount_due=80.0)
    handle = await start(env, journey, context.customer_id, trigger)
    assert (await finish(env, handle)).status == "completed"
    [settled] = [
        r
        for r in standins.of_type("journey.step_completed")
        if r.payload["step_id"] == "settle" and r.customer_id == context.customer_id
    ]
    assert abs(settled.occurred_at - woken) < timedelta(seconds=1)  # not sooner, and no later
    return woken


async def test_it_waits_after_the_due_date_then_branches_on_history_and_dates(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    await run_on_the_day(
        env,
        standins,
        CustomerContext(customer_id="reminded", last_seen={REMINDED: await env.get_current_time()}),
    )
    await run_on_the_day(env, standins, CustomerContext(customer_id="onboarding", in_journeys=["onboarding"]))
    long_ago = await env.get_current_time() - timedelta(days=40)
    woken = await run_on_the_day(
        env, standins, CustomerContext(customer_id="due", last_seen={REMINDED: long_ago}, in_journeys=[])
    )
    assert [send.customer_id for send in standins.sends] == ["due"]
    # what the loader was asked: the journey's had() with its window, its journey ids, the moment
    asked = standins.context_requests[-1]
    assert asked.history == [
        HistoryQuery(
            event_type="message.sent",
            within=timedelta(days=30),
            where="event.journey_id == 'past_due_follow_up'",
        )
    ]
    assert asked.journeys == ["onboarding"]
    assert asked.as_of is not None and abs(asked.as_of - woken) < timedelta(seconds=1)
    assert asked.exclude_event_id is not None


async def test_a_due_date_already_past_does_not_wait(env: WorkflowEnvironment, standins: StandIns) -> None:
    started = await env.get_current_time()
    journey = compiled(FOLLOW_UP.replace("{local_date}", "never"))
    trigger = event(
        "bill.past_due", "late", started, due_date=(started - timedelta(days=30)).isoformat(), amount_due=1.0
    )
    assert (await finish(env, await start(env, journey, "late", trigger))).status == "completed"
    assert standins.step_time("settle") - started < timedelta(minutes=1)
    # the stand-in's context has no facts: had() and in_journey() fail, so their cases are false
    assert ("choose", "no_case") in standins.steps()
