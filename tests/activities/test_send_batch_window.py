"""What a cohort batch leaves in doubt if its worker dies now (activities/batch_calls.py), against real
Postgres and the Twilio stand-in over HTTP: only the provider requests in flight are `calling`; the
members not yet called stay `sending` (a retry decides them afresh, with no look-up), and answers are
recorded as they come. A look-up that cannot answer yet leaves the member for the retry, not held."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.activities.send_batch import BatchInProgress, BatchProgress, CohortSending
from gridjourney.channels.base import LookupNotYet, OutgoingMessage, ProviderReceipt, Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.db.tables import send_ledger
from gridjourney.dsl.schema import Channel
from tests.activities.cohort_fixtures import (
    PassingThrough,
    batch_input,
    cohort_over,
    died_calling,
    member_places,
    sendable_members,
)


async def statuses(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(send_ledger.c.idempotency_key, send_ledger.c.status))
        return {key: status for key, status in rows}


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_crash_during_a_call_would_leave_in_doubt_only_the_calls_in_flight(
    engine: AsyncEngine, activities: JourneyActivities, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "w", 12, now)
    request = batch_input(len(people))
    key_of = {p.phone: request.idempotency_key(p.customer_id) for p in people}
    # Two requests in flight at a time, each answered two seconds after the stand-in took its message.
    standin.response_delay_seconds = 2.0
    cohort = CohortSending(activities.sending, ProviderCalls(senders, concurrency={"sms": 2}), chunk_size=500)
    batch = asyncio.create_task(cohort.send_batch(request))

    await until(lambda: len(standin.received) == 6)  # two waves answered, the third in flight
    await asyncio.sleep(1.0)  # the second wave's answers recorded; the third is still unanswered
    snapshot = await statuses(engine)
    in_flight = {key_of[m.to] for m in standin.received[4:6]}
    answered = {key_of[m.to] for m in standin.received[:4]}

    assert {k for k, s in snapshot.items() if s in ledger.IN_DOUBT} == in_flight
    assert {k for k, s in snapshot.items() if s == "sent"} == answered
    # The chunk's other members were reserved but never called: nothing for a look-up to find.
    assert {k for k, s in snapshot.items() if s == ledger.SENDING} == set(
        key_of.values()
    ) - in_flight - answered

    outcome = await batch
    assert outcome.counts == {"sent": 12}
    assert set((await statuses(engine)).values()) == {"sent"}
    assert Counter(m.to for m in standin.received) == Counter(p.phone for p in people)


class ActivityLags(PassingThrough):
    """The real SMS sender, whose look-up first says it cannot answer yet (as SendGrid's Email Activity
    does within its lag), then answers."""

    def __init__(self, inner: Sender, lag: timedelta) -> None:
        super().__init__(inner)
        self.lag = lag
        self.not_yet: list[str] = []

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        if datetime.now(UTC) - since < self.lag:
            self.not_yet.append(message.idempotency_key)
            raise LookupNotYet("not listed yet", retry_after=since + self.lag - datetime.now(UTC))
        return await super().lookup(message, since)


async def test_a_look_up_that_cannot_answer_yet_leaves_the_member_for_the_retry_not_held(
    engine: AsyncEngine, activities: JourneyActivities, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    now = datetime.now(UTC)
    people = await sendable_members(engine, "n", 3, now)
    request = batch_input(len(people))
    doubt_key = request.idempotency_key(people[0].customer_id)
    # an earlier attempt died calling the provider, which never got it
    await died_calling(engine, doubt_key, people[0].customer_id)
    lagging = ActivityLags(senders["sms"], timedelta(seconds=2))
    cohort = cohort_over(activities, {"sms": lagging})
    beats: list[BatchProgress] = []

    with pytest.raises(BatchInProgress):
        await cohort.send_batch(request, beats.append)

    assert lagging.not_yet == [doubt_key]
    assert beats[-1].outcome.counts == {"sent": 2, "in_progress": 1}
    places = await member_places(engine)
    assert places[people[0].customer_id][:2] == ("notice", "t0")  # still in the track, not held
    row = await ledger.get(engine, doubt_key)
    assert row is not None and row.status == "ambiguous" and row.owner is None  # let go, still in doubt
    assert "looked up again" in (row.note or "")

    await asyncio.sleep(2.0)  # the lag has passed: the retry's look-up answers (not there), so it sends
    outcome = await cohort.send_batch(request, beats.append, beats[-1])

    assert outcome.counts == {"sent": 3}
    assert Counter(m.to for m in standin.received) == Counter(p.phone for p in people)
    assert set((await member_places(engine)).values()) == {("wait", "t1", None)}
