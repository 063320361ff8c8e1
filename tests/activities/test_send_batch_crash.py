"""A cohort send batch whose worker dies after it committed some members' sends and moves, before
Temporal heard its heartbeat (real Postgres, the Twilio stand-in over HTTP).

The death is simulated by cancelling the attempt (it finishes and records the chunk under way, as a
kill after the commit would leave it) and by handing the retry an older heartbeat than the attempt's
last: Temporal keeps the last heartbeat it received, and a worker killed with SIGKILL takes with it
whatever it had not sent yet. Whatever heartbeat the retry gets, its counts must be the ledger's."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from gridjourney.activities import JourneyActivities, ledger
from gridjourney.activities.send_batch import BatchProgress, CohortSending
from gridjourney.channels.base import Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.cohorts.queries import FINISHED, move_members
from gridjourney.db.tables import cohort_members
from gridjourney.dsl.schema import Channel
from gridjourney.workflows.cohort_contracts import CohortSendInput
from tests.activities.cohort_fixtures import (
    RUN_ID,
    Person,
    add_members,
    add_people,
    batch_input,
    member_places,
    person,
)


@pytest.fixture
def cohort(activities: JourneyActivities, senders: dict[Channel, Sender]) -> CohortSending:
    return CohortSending(activities.sending, ProviderCalls(senders, concurrency={"sms": 8}), chunk_size=60)


async def members(engine: AsyncEngine, prefix: str, sendable: int, holdouts: int) -> list[Person]:
    """`sendable` members SMS may reach, then `holdouts` holdout members (member_no in that order)."""
    now = datetime.now(UTC)
    people = [person(prefix, "ok", i, now) for i in range(sendable)]
    for i in range(holdouts):
        held_back = person(f"{prefix}-h", "ok", i, now)
        held_back.holdout = True
        people.append(held_back)
    await add_people(engine, people)
    await add_members(engine, people)
    return people


async def killed_after(
    cohort: CohortSending, request: CohortSendInput, standin: TwilioStandIn, messages: int
) -> list[BatchProgress]:
    """Run the batch until the stand-in has `messages`, then end the attempt: the heartbeats it gave."""
    beats: list[BatchProgress] = []
    attempt = asyncio.create_task(cohort.send_batch(request, beats.append))
    while len(standin.received) < messages:
        await asyncio.sleep(0.005)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    return beats


async def sent_in_ledger(engine: AsyncEngine, request: CohortSendInput, people: list[Person]) -> int:
    rows = [await ledger.get(engine, request.idempotency_key(p.customer_id)) for p in people]
    return sum(1 for row in rows if row is not None and row.status == "sent")


@pytest.mark.parametrize("heard", ["none", "first", "last"])
async def test_a_retry_counts_what_an_attempt_moved_on_after_the_heartbeat_temporal_heard(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn, heard: str
) -> None:
    people = await members(engine, f"k{heard}", 150, 0)
    standin.response_delay_seconds = 0.02
    request = batch_input(len(people))
    beats = await killed_after(cohort, request, standin, 70)
    assert len(standin.received) == 120  # two chunks of 60 sent, recorded and moved on
    resumed = {"none": None, "first": beats[0], "last": beats[-1]}[heard]

    outcome = await cohort.send_batch(request, None, resumed)

    assert Counter(m.to for m in standin.received) == Counter(p.phone for p in people)  # each once
    assert await sent_in_ledger(engine, request, people) == 150
    assert outcome.counts == {"sent": 150}
    assert outcome.processed == 150
    assert outcome.moved == {"t1": 150}
    assert set((await member_places(engine)).values()) == {("wait", "t1", None)}


async def test_a_last_step_s_retry_counts_the_holdouts_and_sends_an_attempt_finished_unheard(
    engine: AsyncEngine, cohort: CohortSending, standin: TwilioStandIn
) -> None:
    """The batch's last step: its members finish. The holdouts are moved on before any chunk, and no
    heartbeat of the first attempt reached Temporal."""
    people = await members(engine, "e", 100, 20)
    standin.response_delay_seconds = 0.02
    request = batch_input(len(people)).model_copy(update={"next_step": None, "next_track": None})
    await killed_after(cohort, request, standin, 10)
    assert len(standin.received) == 60

    outcome = await cohort.send_batch(request)

    assert await sent_in_ledger(engine, request, people) == 100
    assert len(standin.received) == 100
    assert outcome.counts == {"holdout": 20, "sent": 100}
    assert outcome.moved == {"end": 120}
    places = await member_places(engine)
    assert {places[p.customer_id][0] for p in people} == {None}  # all finished


async def test_in_temporal_a_second_attempt_counts_what_the_first_finished_and_no_earlier_round(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    """SEND_COHORT_BATCH as Temporal runs it (its attempt, first scheduling and heartbeat details), for
    a last step: a member an earlier round of the step finished an hour before is not this batch's."""
    people = await members(engine, "tm", 150, 15)
    request = batch_input(len(people)).model_copy(update={"next_step": None, "next_track": None})
    earlier = people[0].customer_id
    c = cohort_members.c
    async with engine.begin() as conn:
        await move_members(conn, RUN_ID, [earlier], None, None, FINISHED, from_track="t0")
        aged = cohort_members.update().where(c.run_id == RUN_ID, c.customer_id == earlier)
        await conn.execute(aged.values(updated_at=datetime.now(UTC) - timedelta(hours=1)))
    standin.response_delay_seconds = 0.02
    scheduled = datetime.now(UTC)
    heard: list[Any] = []
    first = ActivityEnvironment()
    first.info = dataclasses.replace(first.info, attempt=1, scheduled_time=scheduled)
    first.on_heartbeat = lambda *details: heard.append(details[0])
    attempt = asyncio.create_task(first.run(activities.send_cohort_batch, request))
    while len(standin.received) < 70:
        await asyncio.sleep(0.005)
    first.cancel()  # the attempt records the calls under way (as a kill after their commit leaves them)
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert len(standin.received) == 149  # one chunk: all were called before the attempt ended
    second = ActivityEnvironment()
    # Temporal heard the first heartbeat only: the holdouts, no send
    second.info = dataclasses.replace(
        second.info, attempt=2, scheduled_time=scheduled, heartbeat_details=heard[:1]
    )

    outcome = await second.run(activities.send_cohort_batch, request)

    assert await sent_in_ledger(engine, request, people) == 149
    assert outcome.counts == {"holdout": 15, "sent": 149}
    assert outcome.moved == {"end": 164}
