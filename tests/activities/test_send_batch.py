"""SEND_COHORT_BATCH against real Postgres and the Twilio stand-in over HTTP (the official client).

The batch must decide exactly as the per-customer send does: the same population is sent to once
through the batch and once member by member through MessageSending, and the outcomes compared."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.activities.send_batch import BatchInProgress, BatchProgress, CohortSending
from gridjourney.channels.base import LookupUnavailable, OutgoingMessage, ProviderReceipt, Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.dsl.schema import Channel
from gridjourney.workflows.contracts import SendMessageInput
from tests.activities.cohort_fixtures import (
    LEASE,
    SMS_OK,
    PassingThrough,
    Person,
    add_members,
    add_outage,
    add_people,
    batch_input,
    cohort_over,
    died_calling,
    member_places,
    person,
    sendable_members,
)
from tests.activities.conftest import message_events

KINDS = ("ok", "revoked", "suppressed", "no_phone", "night", "cap", "outage", "safety_outage")


async def use_up_caps(engine: AsyncEngine, customer_ids: list[str]) -> None:
    """Three informational SMS sent to each within the week: the policy's cap (3 per 7d) is reached."""
    for customer_id in customer_ids:
        for n in range(3):
            key = f"earlier:{customer_id}:{n}"
            async with engine.begin() as conn:
                await ledger.acquire(conn, key, "t", LEASE, customer_id=customer_id)
                await ledger.reserve(conn, key, "t", "sms", "informational", LEASE)
                await ledger.complete(conn, key, "t", "sent", "sms", f"SM{n}")


@pytest.fixture
def cohort(activities: JourneyActivities, senders: dict[Channel, Sender]) -> CohortSending:
    return CohortSending(activities.sending, ProviderCalls(senders, concurrency={"sms": 8}), chunk_size=60)


async def test_a_mixed_batch_decides_as_the_per_customer_send_does(
    engine: AsyncEngine, activities: JourneyActivities, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    per_kind = 25
    batch_people = [person("b", kind, i, now) for kind in KINDS for i in range(per_kind)]
    single_people = [person("s", kind, i, now) for kind in KINDS for i in range(per_kind)]
    holdout = [
        Person(f"b-holdout-{i}", phone="+15035550199", consent=SMS_OK, holdout=True) for i in range(10)
    ]
    await add_people(engine, [*batch_people, *single_people, *holdout])
    await add_outage(engine, "INC-1", [p.premise_id for p in batch_people + single_people if p.premise_id])
    await use_up_caps(
        engine, [p.customer_id for p in batch_people + single_people if "-cap-" in p.customer_id]
    )
    members = [*batch_people, *holdout]
    await add_members(engine, members)

    # The step's own hours 09:00-18:00: noon members send, 03:00 members wait.
    informational = batch_input(len(members), sending_hours=["09:00-18:00"])
    outcome = await cohort.send_batch(informational)

    # revoked, suppressed, no phone, cap reached and both kinds in the outage are suppressed
    assert outcome.counts == {
        "sent": per_kind,
        "suppressed": per_kind * 6,
        "deferred": per_kind,
        "holdout": 10,
    }
    places = await member_places(engine)
    assert {places[p.customer_id][:2] for p in holdout} == {("wait", "t1")}
    night = [p.customer_id for p in batch_people if "-night-" in p.customer_id]
    assert {places[c][:2] for c in night} == {("notice", "t0")}
    assert outcome.next_deferred_until == min(places[c][2] for c in night)  # type: ignore[type-var]

    # The same population member by member through MessageSending: the same decisions.
    for b, s in zip(batch_people, single_people, strict=True):
        [(batch_type, batch_payload)] = await message_events(engine, b.customer_id)
        single_request = SendMessageInput(
            idempotency_key=informational.idempotency_key(s.customer_id),
            customer_id=s.customer_id,
            journey_id="dr_event",
            journey_version=1,
            instance_id=informational.batch.run_id,
            step_id="notice",
            channels=["sms"],
            template="high_bill",
            purpose="informational",
            variables={"event": informational.subject, "performance": {"known": False}},
            sending_hours=["09:00-18:00"],
            can_defer=True,
        )
        single = await activities.sending.send(single_request)
        [(single_type, single_payload)] = await message_events(engine, s.customer_id)
        assert (batch_type, batch_payload.get("reason"), batch_payload.get("channel")) == (
            single_type,
            single_payload.get("reason"),
            single_payload.get("channel"),
        ), b.customer_id
        assert single.status == batch_type.removeprefix("message.")
    kinds: Counter[tuple[str, object]] = Counter()
    for p in batch_people:
        [(_, payload)] = await message_events(engine, p.customer_id)
        kinds[(p.customer_id.split("-")[1], payload.get("reason"))] += 1
    assert kinds[("revoked", "sms: consent_revoked")] == per_kind
    assert kinds[("no_phone", "sms: no_contact_point")] == per_kind
    assert kinds[("cap", "sms: frequency_cap (3 informational sms in 7d)")] == per_kind
    assert kinds[("outage", "sms: active_outage (the premise has no power)")] == per_kind
    assert {t for t, _ in await message_events(engine, "b-night-0")} == {"message.deferred"}
    assert len(standin.received) == 2 * per_kind  # the noon members of both populations


async def test_an_active_outage_refuses_informational_but_not_safety_messages(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = [person("o", "outage", i, now) for i in range(6)]
    await add_people(engine, people)
    await add_outage(engine, "INC-7", [p.premise_id for p in people if p.premise_id])
    await add_members(engine, people)

    informational = await cohort.send_batch(batch_input(len(people)).model_copy(update={"stay": True}))
    safety = batch_input(len(people), purpose="safety").model_copy(update={"visit": 2})
    sent = await cohort.send_batch(safety)

    assert informational.counts == {"suppressed": 6}
    assert sent.counts == {"sent": 6}
    assert len(standin.received) == 6


async def test_a_batch_cancelled_mid_way_and_retried_sends_each_member_once(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "k", 150, now)
    standin.response_delay_seconds = 0.02
    request = batch_input(len(people))

    first = asyncio.create_task(cohort.send_batch(request))
    while len(standin.received) < 70:
        await asyncio.sleep(0.005)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The chunk under way when cancelled (the second of 60) finished its calls and recorded them; the
    # third was never started.
    interrupted = len(standin.received)
    assert interrupted == 120
    for p in people[:interrupted]:
        row = await ledger.get(engine, request.idempotency_key(p.customer_id))
        assert row is not None and row.status == "sent", p.customer_id
    assert await ledger.get(engine, request.idempotency_key(people[interrupted].customer_id)) is None

    outcome = await cohort.send_batch(request)

    by_phone = Counter(m.to for m in standin.received)
    assert sorted(by_phone) == sorted(p.phone for p in people if p.phone)
    assert set(by_phone.values()) == {1}  # 0 duplicates, 0 lost
    for p in people:
        [(event_type, _)] = await message_events(engine, p.customer_id)
        assert event_type == "message.sent"
        row = await ledger.get(engine, request.idempotency_key(p.customer_id))
        assert row is not None and row.status == "sent"
    assert set((await member_places(engine)).values()) == {("wait", "t1", None)}
    # The retry sent (or found at the provider) what the first attempt had not recorded.
    assert outcome.counts["sent"] <= len(people)
    assert sum(outcome.moved.values()) == outcome.counts["sent"]


async def test_sms_concurrency_is_bounded(
    engine: AsyncEngine, activities: JourneyActivities, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "c", 40, now)
    standin.response_delay_seconds = 0.05
    cohort = CohortSending(activities.sending, ProviderCalls(senders, concurrency={"sms": 5}))
    outcome = await cohort.send_batch(batch_input(len(people)))
    assert outcome.counts == {"sent": 40}
    assert standin.max_in_flight == 5


async def test_a_member_already_sent_is_moved_on_as_a_duplicate(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "d", 5, now)
    request = batch_input(len(people))
    request = request.model_copy(update={"stay": True})
    first = await cohort.send_batch(request)
    second = await cohort.send_batch(request)
    assert first.counts == {"sent": 5}
    assert second.counts == {"duplicate": 5}
    assert len(standin.received) == 5
    assert set((await member_places(engine)).values()) == {("notice", "t0", None)}


async def test_members_held_by_a_live_lease_fail_the_batch_and_are_done_once_by_the_retry(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    """A worker killed while calling the provider leaves `calling` rows whose lease outlives it."""
    now = datetime.now(UTC)
    people = await sendable_members(engine, "l", 10, now)
    request = batch_input(len(people))
    lease = timedelta(seconds=1.5)
    killed = people[:4]
    for p in killed:
        await died_calling(
            engine, request.idempotency_key(p.customer_id), p.customer_id, lease=lease, ambiguous=False
        )
    beats: list[BatchProgress] = []

    with pytest.raises(BatchInProgress):
        await cohort.send_batch(request, beats.append)

    places = await member_places(engine)
    assert {places[p.customer_id][:2] for p in killed} == {("notice", "t0")}
    assert {places[p.customer_id][:2] for p in people[4:]} == {("wait", "t1")}
    assert beats[-1].outcome.counts == {"sent": 6, "in_progress": 4}
    # One of them was not dead but slow: it finished its message before its lease ran out.
    slow_key = request.idempotency_key(killed[0].customer_id)
    async with engine.begin() as conn:
        assert await ledger.complete(conn, slow_key, "dead-worker", "sent", "sms", "SM-slow")
    await asyncio.sleep(lease.total_seconds())
    outcome = await cohort.send_batch(request, beats.append, beats[-1])

    # The whole batch is reported: the slow one's member, left to this retry, counts as a duplicate.
    assert outcome.counts == {"sent": 9, "duplicate": 1}
    assert Counter(m.to for m in standin.received) == Counter(p.phone for p in people[1:])
    assert set((await member_places(engine)).values()) == {("wait", "t1", None)}


class LookupDown(PassingThrough):
    """The real SMS sender whose message look-up is down (Twilio's API answers sends, not searches)."""

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        raise LookupUnavailable("the message search is down")


async def test_a_member_held_for_an_operator_moves_on_and_its_row_waits(
    engine: AsyncEngine, activities: JourneyActivities, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "h", 3, now)
    request = batch_input(len(people))
    held_key = request.idempotency_key(people[0].customer_id)
    await died_calling(engine, held_key, people[0].customer_id)  # an earlier attempt
    cohort = cohort_over(activities, {"sms": LookupDown(senders["sms"])})

    outcome = await cohort.send_batch(request)

    assert outcome.counts == {"sent": 2, "held": 1}
    assert set((await member_places(engine)).values()) == {("wait", "t1", None)}
    row = await ledger.get(engine, held_key)
    assert row is not None and row.status == "ambiguous"  # for `gridjourney sends resolve`
    assert Counter(m.to for m in standin.received) == Counter(p.phone for p in people[1:])
