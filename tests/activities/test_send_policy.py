"""SEND_MESSAGE under the compliance policy: quiet hours defer (or, for workflows that cannot wait,
suppress), and frequency caps hold when two sends race for one customer. Real Postgres, the stand-in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.activities.send import MessageSending
from gridjourney.channels.base import Sender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from tests.activities.cohort_fixtures import SMS_OK, Person, add_outage, add_people
from tests.activities.conftest import add_customer
from tests.activities.test_send import message_and_suppression_events, request

# 22:30 in Chicago (CST, UTC-6): quiet hours for informational messages under the shipped policy,
# whose sending hours are 08:00-21:00. A fixed clock: the tests do not depend on the hour they run at.
ZONE = "America/Chicago"
NIGHT = datetime(2026, 11, 10, 22, 30, tzinfo=ZoneInfo(ZONE))
NEXT_MORNING = datetime(2026, 11, 11, 8, 0, tzinfo=ZoneInfo(ZONE))


def sending_at_night(
    engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender], policy: Policy
) -> MessageSending:
    """The send logic under the shipped policy (not the fixture's all-day one), judged at NIGHT."""
    return MessageSending(EventStore(engine), settings.templates_dir, senders, policy, clock=lambda: NIGHT)


async def test_quiet_hours_defer_the_message_and_release_the_key(
    engine: AsyncEngine,
    settings: Settings,
    senders: dict[Channel, Sender],
    policy: Policy,
    standin: TwilioStandIn,
) -> None:
    await add_customer(engine, "c1", time_zone=ZONE, consent=[("sms", "informational", True)])
    deferrable = request(channels=["sms"]).model_copy(update={"can_defer": True})
    outcome = await sending_at_night(engine, settings, senders, policy).send(deferrable)
    assert outcome.status == "deferred" and outcome.deferred_until == NEXT_MORNING
    assert standin.received == []
    row = await ledger.get(engine, deferrable.idempotency_key)
    assert row is not None and (row.status, row.reserved_at) == ("released", None)
    [(event_type, payload)] = await message_and_suppression_events(engine, "c1")
    assert (event_type, payload["time_zone"]) == ("message.deferred", ZONE)
    assert datetime.fromisoformat(payload["until"]) == NEXT_MORNING


async def test_quiet_hours_suppress_when_the_workflow_cannot_defer(
    engine: AsyncEngine,
    settings: Settings,
    senders: dict[Channel, Sender],
    policy: Policy,
    standin: TwilioStandIn,
) -> None:
    await add_customer(engine, "c1", time_zone=ZONE, consent=[("sms", "informational", True)])
    outcome = await sending_at_night(engine, settings, senders, policy).send(request(channels=["sms"]))
    assert (outcome.status, outcome.reason) == ("suppressed", "quiet_hours")
    assert standin.received == []


async def test_two_sends_racing_for_one_customer_respect_a_cap_of_one(
    engine: AsyncEngine,
    settings: Settings,
    senders: dict[Channel, Sender],
    policy: Policy,
    standin: TwilioStandIn,
) -> None:
    # The shipped policy caps marketing SMS at 1 a day; quiet hours are lifted so the test holds at night.
    marketing = policy.purposes["marketing"].model_copy(update={"exempt_from": ["quiet_hours"]})
    capped = policy.model_copy(update={"purposes": {**policy.purposes, "marketing": marketing}})
    activities = JourneyActivities(engine, settings, senders, policy=capped)
    await add_customer(engine, "c1", consent=[("sms", "marketing", True)])
    racing = [request(channels=["sms"], purpose="marketing", key=f"journey-{n}/offer/c1") for n in range(2)]
    outcomes = await asyncio.gather(*(activities.send_message(r) for r in racing))
    assert sorted(o.status for o in outcomes) == ["sent", "suppressed"]
    [suppressed] = [o for o in outcomes if o.status == "suppressed"]
    assert suppressed.reason is not None and "frequency_cap" in suppressed.reason
    assert len(standin.received) == 1


async def test_caps_count_reservations_on_the_clock_the_decision_was_taken_by(
    engine: AsyncEngine,
    settings: Settings,
    senders: dict[Channel, Sender],
    policy: Policy,
    standin: TwilioStandIn,
) -> None:
    # A time-skipping Temporal server judges sends ten days ahead of the wall clock (and the
    # database's). The shipped policy caps marketing SMS at 1 a day; quiet hours are lifted.
    marketing = policy.purposes["marketing"].model_copy(update={"exempt_from": ["quiet_hours"]})
    capped = policy.model_copy(update={"purposes": {**policy.purposes, "marketing": marketing}})
    ahead = datetime.now(UTC) + timedelta(days=10)
    sending = MessageSending(EventStore(engine), settings.templates_dir, senders, capped, clock=lambda: ahead)
    await add_customer(engine, "c1", consent=[("sms", "marketing", True)])
    first, second = (
        request(channels=["sms"], purpose="marketing", key=f"journey-{n}/offer/c1") for n in range(2)
    )
    assert (await sending.send(first)).status == "sent"
    row = await ledger.get(engine, first.idempotency_key)
    assert row is not None and row.reserved_at == ahead
    outcome = await sending.send(second)
    assert outcome.status == "suppressed" and outcome.reason is not None and "frequency_cap" in outcome.reason
    assert len(standin.received) == 1


async def test_an_active_outage_refuses_informational_messages_but_not_safety_ones(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    # The per-customer path (test_send_batch.py has the cohort one): the premise is out of power.
    await add_people(engine, [Person("c1", phone="+15035550100", premise_id="P-1", consent=SMS_OK)])
    await add_outage(engine, "INC-1", ["P-1"])
    informational = await activities.send_message(request(channels=["sms"]))
    safety = request(channels=["sms"], purpose="safety", key="outage-notice:c1")
    notice = await activities.send_message(safety)
    assert (informational.status, informational.reason) == (
        "suppressed",
        "sms: active_outage (the premise has no power)",
    )
    assert notice.status == "sent"
    assert [m.to for m in standin.received] == ["+15035550100"]
