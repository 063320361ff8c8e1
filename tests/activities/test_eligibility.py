"""Eligibility under the compliance policy: the order of the checks, judged from facts (no I/O), then
the reads against a real database, and two concurrent decisions racing for one cap."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.activities import ledger
from gridjourney.activities.context import CustomerRecord, load_customer
from gridjourney.activities.eligibility import Facts, SendDecision, decide, gather, gather_many, judge
from gridjourney.db.tables import send_ledger
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.incidents.queries import MAX_OUTAGE_AGE
from gridjourney.policy.model import FrequencyCap, Policy, PurposeRules, TimeWindow
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.contracts import SendMessageInput
from tests.activities.cohort_fixtures import SMS_OK, Person, add_outage, add_people
from tests.activities.conftest import add_customer

ALL: set[Channel] = {"sms", "email", "push"}
CHICAGO = ZoneInfo("America/Chicago")
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=CHICAGO)  # inside every purpose's hours
PHONE = "+15035550100"
EMAIL = "ana@example.org"
ENDPOINT = "https://push.example/sub/1"


def customer(**fields: object) -> CustomerRecord:
    return CustomerRecord.model_validate({"customer_id": "c1", "phone": PHONE, "email": EMAIL} | fields)


def request(
    channels: list[Channel], purpose: Purpose = "marketing", sending_hours: list[str] | None = None
) -> SendMessageInput:
    return SendMessageInput(
        idempotency_key=f"k-{uuid.uuid4()}",
        customer_id="c1",
        journey_id="j",
        journey_version=1,
        instance_id="j:c1",
        step_id="s",
        channels=channels,
        template="t",
        purpose=purpose,
        sending_hours=sending_hours,
        can_defer=True,
    )


def granted(
    *pairs: tuple[str, str], revoked: tuple[tuple[str, str], ...] = ()
) -> dict[tuple[str, str], bool]:
    return {pair: True for pair in pairs} | {pair: False for pair in revoked}


def judged(
    policy: Policy,
    channels: list[Channel],
    purpose: Purpose = "marketing",
    *,
    facts: Facts | None = None,
    who: CustomerRecord | None = None,
    now: datetime = NOON,
    sending_hours: list[str] | None = None,
    available: set[Channel] = ALL,
) -> SendDecision:
    return judge(
        policy,
        who or customer(),
        request(channels, purpose, sending_hours),
        available,
        now,
        facts or Facts(consents=granted(*((c, purpose) for c in ALL))),
    )


# --- the order of the checks -------------------------------------------------------------------------
def test_the_first_eligible_channel_in_the_steps_order_wins(policy: Policy) -> None:
    decision = judged(policy, ["email", "sms"])
    assert (decision.channel, decision.recipient, decision.deferred_until) == ("email", EMAIL, None)
    assert decision.reason() == "email: eligible"


def test_each_refused_channel_gives_its_reason_in_order(policy: Policy) -> None:
    facts = Facts(consents=granted(("email", "marketing"), revoked=(("sms", "marketing"),)))
    decision = judged(policy, ["push", "sms", "email"], facts=facts, who=customer(email=None))
    assert decision.channel is None and decision.recipient is None
    assert decision.reason() == "push: no_consent; sms: consent_revoked; email: no_contact_point"


def test_channels_after_the_chosen_one_are_not_reported(policy: Policy) -> None:
    facts = Facts(consents=granted(("email", "marketing")))
    decision = judged(policy, ["sms", "email", "push"], facts=facts)
    assert decision.reason() == "sms: no_consent; email: eligible"


def test_a_channel_without_a_sender_is_refused(policy: Policy) -> None:
    decision = judged(policy, ["sms", "email"], available={"email"})
    assert (decision.channel, decision.reason()) == ("email", "sms: channel_not_configured; email: eligible")


# --- consent per the policy's rule -------------------------------------------------------------------
@pytest.mark.parametrize("purpose", ["marketing", "informational"])
def test_opt_in_purposes_need_a_recorded_consent(policy: Policy, purpose: Purpose) -> None:
    assert judged(policy, ["sms"], purpose, facts=Facts()).reason() == "sms: no_consent"
    assert judged(policy, ["sms"], purpose, facts=Facts(consents=granted(("sms", purpose)))).channel == "sms"


def test_implied_consent_needs_none_but_an_explicit_revocation_wins(policy: Policy) -> None:
    assert judged(policy, ["sms"], "safety", facts=Facts()).channel == "sms"
    revoked = Facts(consents=granted(revoked=(("sms", "safety"),)))
    assert judged(policy, ["sms"], "safety", facts=revoked).reason() == "sms: consent_revoked"


def test_consent_is_per_purpose(policy: Policy) -> None:
    facts = Facts(consents=granted(("sms", "informational")))
    assert judged(policy, ["sms"], "marketing", facts=facts).reason() == "sms: no_consent"


def test_an_implied_rule_in_the_policy_applies_to_any_purpose(policy: Policy) -> None:
    implied = policy.model_copy(
        update={"purposes": {**policy.purposes, "informational": PurposeRules(consent="implied")}}
    )
    assert judged(implied, ["sms"], "informational", facts=Facts()).channel == "sms"


# --- the suppression list and contact points ---------------------------------------------------------
def test_a_suppressed_address_refuses_its_channel_with_the_lists_reason(policy: Policy) -> None:
    facts = Facts(
        consents=granted(("sms", "marketing"), ("email", "marketing")),
        suppressed={("sms", PHONE): "carrier_opt_out"},
    )
    decision = judged(policy, ["sms", "email"], facts=facts)
    assert decision.channel == "email"
    assert decision.reason() == "sms: suppressed_address (carrier_opt_out); email: eligible"


def test_a_changed_address_is_reachable(policy: Policy) -> None:
    facts = Facts(consents=granted(("sms", "marketing")), suppressed={("sms", PHONE): "invalid_number"})
    decision = judged(policy, ["sms"], facts=facts, who=customer(phone="+15035550199"))
    assert (decision.channel, decision.recipient) == ("sms", "+15035550199")


def test_push_needs_a_subscription_and_goes_to_the_first_open_one(policy: Policy) -> None:
    consents = granted(("push", "informational"))
    none = judged(policy, ["push"], "informational", facts=Facts(consents=consents))
    assert none.reason() == "push: no_contact_point (no push subscription)"
    two = Facts(consents=consents, push_endpoints=[ENDPOINT, ENDPOINT + "b"])
    assert judged(policy, ["push"], "informational", facts=two).recipient == ENDPOINT
    first_gone = Facts(
        consents=consents, push_endpoints=[ENDPOINT, ENDPOINT + "b"], suppressed={("push", ENDPOINT): "gone"}
    )
    assert judged(policy, ["push"], "informational", facts=first_gone).recipient == ENDPOINT + "b"


def test_suppression_is_checked_before_the_contact_point_but_after_consent(policy: Policy) -> None:
    facts = Facts(suppressed={("sms", PHONE): "invalid_number"})
    assert judged(policy, ["sms"], facts=facts).reason() == "sms: no_consent"


# --- quiet hours ----------------------------------------------------------------------------------------
def test_outside_sending_hours_the_message_is_deferred_to_the_next_allowed_minute(policy: Policy) -> None:
    late = datetime(2026, 3, 7, 22, 0, tzinfo=CHICAGO)  # the evening before the change to CDT
    decision = judged(policy, ["sms", "email"], now=late)
    assert decision.channel is None and decision.time_zone == "America/Chicago"
    assert decision.deferred_until == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 08:00 CDT
    assert decision.reason() == (
        "sms: quiet_hours (until 2026-03-08 08:00 America/Chicago); "
        "email: quiet_hours (until 2026-03-08 08:00 America/Chicago)"
    )


def test_the_customers_own_zone_decides_and_utc_means_unset(policy: Policy) -> None:
    moment = datetime(2026, 6, 1, 7, 30, tzinfo=ZoneInfo("America/Chicago"))  # 05:30 in Phoenix
    in_phoenix = judged(policy, ["sms"], now=moment, who=customer(time_zone="America/Phoenix"))
    assert in_phoenix.time_zone == "America/Phoenix"
    assert in_phoenix.deferred_until == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 08:00 MST
    unset = judged(policy, ["sms"], now=moment, who=customer(time_zone="UTC"))
    assert unset.time_zone == "America/Chicago"
    assert unset.deferred_until == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_a_step_narrows_the_purposes_hours(policy: Policy) -> None:
    early = datetime(2026, 6, 1, 8, 30, tzinfo=CHICAGO)
    assert judged(policy, ["sms"], "informational", now=early).channel == "sms"
    narrowed = judged(policy, ["sms"], "informational", now=early, sending_hours=["09:00-18:00"])
    assert narrowed.deferred_until == datetime(2026, 6, 1, 9, 0, tzinfo=CHICAGO)


def test_a_step_window_outside_the_purposes_hours_refuses_the_message(policy: Policy) -> None:
    decision = judged(policy, ["sms"], "informational", sending_hours=["21:30-23:00"])
    assert decision.channel is None and decision.deferred_until is None
    assert decision.reason() == (
        "sms: no_sending_hours (the step's 21:30-23:00 lies outside informational hours 08:00-21:00)"
    )


def test_safety_is_exempt_from_quiet_hours(policy: Policy) -> None:
    three_am = datetime(2026, 6, 1, 3, 0, tzinfo=CHICAGO)
    decision = judged(policy, ["sms"], "safety", now=three_am, sending_hours=["09:00-18:00"])
    assert (decision.channel, decision.deferred_until) == ("sms", None)


def test_a_message_no_channel_may_carry_is_refused_not_deferred(policy: Policy) -> None:
    late = datetime(2026, 6, 1, 23, 0, tzinfo=CHICAGO)
    decision = judged(policy, ["sms"], now=late, facts=Facts())
    assert (decision.deferred_until, decision.reason()) == (None, "sms: no_consent")


# --- frequency caps -----------------------------------------------------------------------------------
def caps_of(policy: Policy, purpose: Purpose) -> list[FrequencyCap]:
    return policy.rules(purpose).caps


def test_a_capped_channel_is_refused_and_the_next_one_tried(policy: Policy) -> None:
    daily_sms = caps_of(policy, "marketing")[0]
    facts = Facts(consents=granted(("sms", "marketing"), ("email", "marketing")), cap_counts={daily_sms: 1})
    decision = judged(policy, ["sms", "email"], facts=facts)
    assert decision.channel == "email"
    assert decision.reason() == "sms: frequency_cap (1 marketing sms in 1d); email: eligible"


def test_the_weekly_cap_counts_too(policy: Policy) -> None:
    informational_sms = caps_of(policy, "informational")[0]
    below = Facts(consents=granted(("sms", "informational")), cap_counts={informational_sms: 2})
    assert judged(policy, ["sms"], "informational", facts=below).channel == "sms"
    at = Facts(consents=granted(("sms", "informational")), cap_counts={informational_sms: 3})
    assert judged(policy, ["sms"], "informational", facts=at).reason() == (
        "sms: frequency_cap (3 informational sms in 7d)"
    )


def test_a_cap_on_any_channel_counts_every_channel(policy: Policy) -> None:
    any_cap = FrequencyCap.model_validate({"channel": "any", "max": 5, "per": "30d"})
    capped = policy.model_copy(
        update={"purposes": {**policy.purposes, "marketing": PurposeRules(caps=[any_cap])}}
    )
    decision = judged(
        capped,
        ["email", "push"],
        facts=Facts(consents=granted(("email", "marketing")), cap_counts={any_cap: 5}),
    )
    assert decision.reason() == "email: frequency_cap (5 marketing messages in 30d); push: no_consent"


def test_safety_is_never_capped(policy: Policy) -> None:
    cap = FrequencyCap.model_validate({"channel": "sms", "max": 1, "per": "1d"})
    rules = PurposeRules(consent="implied", caps=[cap], exempt_from=["frequency_caps"])
    exempt = policy.model_copy(update={"purposes": {**policy.purposes, "safety": rules}})
    assert judged(exempt, ["sms"], "safety", facts=Facts(cap_counts={cap: 50})).channel == "sms"


# --- against the database ------------------------------------------------------------------------------
def round_the_clock(policy: Policy, cap: int = 1) -> Policy:
    """Marketing at any hour (tests run at any time of day), at most `cap` SMS a day."""
    rules = PurposeRules(
        sending_hours=[TimeWindow.parse("00:00-24:00")],
        caps=[FrequencyCap.model_validate({"channel": "sms", "max": cap, "per": "1d"})],
    )
    return policy.model_copy(update={"purposes": {**policy.purposes, "marketing": rules}})


async def reserve(conn: AsyncConnection, key: str, customer_id: str, channel: str, purpose: str) -> None:
    """The send activity's reservation, reduced to what caps count: a row `sending` on the channel."""
    await conn.execute(
        insert(send_ledger).values(
            idempotency_key=key,
            customer_id=customer_id,
            status="sending",
            channel=channel,
            purpose=purpose,
            reserved_at=func.now(),
        )
    )


async def record(engine: AsyncEngine, *new: NewEvent) -> None:
    await EventStore(engine).append(list(new))
    await ProjectionRunner(engine).catch_up()


async def test_decide_reads_consent_suppressions_subscriptions_and_the_ledger(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(
        engine,
        "c1",
        email=EMAIL,
        consent=[("sms", "marketing", True), ("email", "marketing", True), ("push", "marketing", True)],
    )
    who = await load_customer(engine, "c1")
    assert who is not None
    daytime = policy.model_copy(
        update={
            "purposes": {
                **policy.purposes,
                "marketing": PurposeRules(
                    sending_hours=[TimeWindow.parse("00:00-24:00")],
                    caps=[FrequencyCap.model_validate({"channel": "email", "max": 1, "per": "1d"})],
                ),
            }
        }
    )
    await record(engine, suppression_added("c1", "sms", PHONE, "carrier_opt_out", "twilio", uuid.uuid4()))
    async with engine.begin() as conn:
        await reserve(conn, "earlier-email", "c1", "email", "marketing")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        decision = await decide(conn, daytime, who, request(["sms", "email", "push"]), ALL, now)
    assert decision.reason() == (
        "sms: suppressed_address (carrier_opt_out); email: frequency_cap (1 marketing email in 1d); "
        "push: no_contact_point (no push subscription)"
    )
    subscribed = NewEvent(
        event_id=uuid.uuid4(),
        type="push.subscribed",
        customer_id="c1",
        occurred_at=now,
        source="test",
        payload={"endpoint": ENDPOINT, "p256dh": "BKey", "auth": "secret"},
    )
    await record(engine, subscribed)
    async with engine.begin() as conn:
        decision = await decide(conn, daytime, who, request(["sms", "email", "push"]), ALL, now)
        # a step without push does not read the subscriptions (a query less per message)
        without_push = await gather(conn, daytime, "c1", "marketing", now, ["sms", "email"])
        any_channel = await gather(conn, daytime, "c1", "marketing", now)
    assert (decision.channel, decision.recipient) == ("push", ENDPOINT)
    assert (list(without_push.push_endpoints), list(any_channel.push_endpoints)) == ([], [ENDPOINT])


async def test_a_reservation_older_than_the_window_does_not_count(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "marketing", True)])
    who = await load_customer(engine, "c1")
    assert who is not None
    async with engine.begin() as conn:
        await reserve(conn, "yesterday", "c1", "sms", "marketing")
    tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
    async with engine.begin() as conn:
        assert (
            await decide(conn, round_the_clock(policy), who, request(["sms"]), ALL, tomorrow)
        ).channel == "sms"
        today = await decide(conn, round_the_clock(policy), who, request(["sms"]), ALL, datetime.now(UTC))
    assert today.reason() == "sms: frequency_cap (1 marketing sms in 1d)"


async def test_two_concurrent_decisions_for_one_customer_respect_a_cap_of_1(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "marketing", True)])
    who = await load_customer(engine, "c1")
    assert who is not None
    capped = round_the_clock(policy, cap=1)
    both_decided = asyncio.Barrier(2)

    async def journey(key: str) -> SendDecision:
        async with engine.connect() as conn, conn.begin():
            await both_decided.wait()  # both transactions are open before either decides
            await ledger.lock_customer(conn, "c1")
            decision = await decide(conn, capped, who, request(["sms"]), ALL, datetime.now(UTC))
            await asyncio.sleep(0.05)  # widen the window between deciding and reserving
            if decision.channel is not None:
                await reserve(conn, key, "c1", decision.channel, "marketing")
        return decision

    first, second = await asyncio.gather(journey("journey-a"), journey("journey-b"))
    assert sorted(d.reason() for d in (first, second)) == [
        "sms: eligible",
        "sms: frequency_cap (1 marketing sms in 1d)",
    ]
    async with engine.connect() as conn:
        since = datetime.now(UTC) - timedelta(days=1)
        assert await ledger.count_reserved(conn, "c1", "marketing", "sms", since) == 1


@pytest.mark.parametrize("purpose", ["marketing", "informational"])
def test_an_active_outage_refuses_every_channel_before_quiet_hours(policy: Policy, purpose: Purpose) -> None:
    facts = Facts(consents=granted(*((c, purpose) for c in ALL)), without_power=True)
    night = NOON.replace(hour=23)  # an outage refusal is not deferred: it is refused at any hour
    decision = judged(policy, ["sms", "email"], purpose, facts=facts, now=night)
    assert (decision.channel, decision.deferred_until) == (None, None)
    assert decision.reason() == (
        "sms: active_outage (the premise has no power); email: active_outage (the premise has no power)"
    )


def test_an_active_outage_never_refuses_safety(policy: Policy) -> None:
    decision = judged(policy, ["sms"], "safety", facts=Facts(without_power=True))
    assert (decision.channel, decision.reason()) == ("sms", "sms: eligible")


async def test_the_outage_facts_are_read_for_refused_purposes_only_and_only_for_recent_incidents(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_people(
        engine, [Person(c, phone=PHONE, premise_id=f"P-{c}", consent=SMS_OK) for c in ("c1", "c2")]
    )
    await add_outage(engine, "INC-1", ["P-c1", "P-c2"])
    now = datetime.now(UTC)
    stale = now + MAX_OUTAGE_AGE + timedelta(minutes=1)  # no restoration came in the week since
    async with engine.connect() as conn:
        one = {
            purpose: await gather(conn, policy, "c1", purpose, now) for purpose in ("informational", "safety")
        }
        many = {
            purpose: await gather_many(conn, policy, ["c1", "c2"], purpose, now)
            for purpose in ("informational", "safety")
        }
        later = await gather(conn, policy, "c1", "informational", stale)
        later_many = await gather_many(conn, policy, ["c1", "c2"], "informational", stale)

    assert (one["informational"].without_power, one["safety"].without_power) == (True, False)
    assert {c: f.without_power for c, f in many["informational"].items()} == {"c1": True, "c2": True}
    assert {c: f.without_power for c, f in many["safety"].items()} == {"c1": False, "c2": False}
    assert later.without_power is False
    assert {f.without_power for f in later_many.values()} == {False}
