"""The send ledger under crashes, pauses and outages: real Postgres, the Twilio stand-in over HTTP.

A crash is the logic run up to a point: a sender that stops after the provider accepted (an attempt
abandoned there, with no keeper renewing its lease, is a killed worker), or one that raises a
BaseException there. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities, SendInProgress, ledger
from gridjourney.activities.send import MessageSending, SendHeld
from gridjourney.activities.send_operator import resolve_not_sent, resolve_sent
from gridjourney.channels.base import OutgoingMessage, ProviderReceipt, Sender, TransientSendError
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.tables import send_ledger
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.contracts import SendGivenUpInput, SendMessageInput
from tests.activities.conftest import FROM_NUMBER, add_customer, message_events
from tests.activities.tcp_proxy import TcpProxy
from tests.activities.test_send import message_and_suppression_events, open_policy, request

SHORT_LEASE = timedelta(seconds=0.5)
NO_KEEPER = timedelta(hours=1)  # a paused or killed process renews nothing
# An interrupted call's row is looked up after this (short here; the tests' stand-in answers at once).
LOOK_UP_AFTER = timedelta(seconds=0.3)


class Crash(BaseException):
    """The worker dies here (BaseException: no `except Exception` of ours may swallow it)."""


class StoppingSender:
    """The real sender, stopped at a chosen point: after the provider accepted (`after_send`:
    "pause" waits for `resume`, "crash" raises Crash) or before a look-up (`before_lookup`)."""

    def __init__(self, inner: Sender, *, after_send: str | None = None, before_lookup: bool = False) -> None:
        self.inner = inner
        self.after_send = after_send
        self.before_lookup = before_lookup
        self.stopped = asyncio.Event()
        self.resume = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        receipt = await self.inner.send(message)
        if self.after_send == "crash":
            raise Crash
        if self.after_send == "pause":
            self.stopped.set()
            await self.resume.wait()
        return receipt

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        if self.before_lookup:
            self.stopped.set()
            await self.resume.wait()
        return await self.inner.lookup(message, since)

    async def close(self) -> None:
        return None


class Build(Protocol):
    def __call__(
        self,
        sms: Sender | None = None,
        *,
        store_engine: AsyncEngine | None = None,
        claim_lease: timedelta = ...,
        heartbeat_every: timedelta | None = ...,
        wait_for_other: timedelta = ...,
        look_up_after: timedelta = ...,
    ) -> MessageSending: ...


@pytest.fixture
def make(engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender], policy: Policy) -> Build:
    def build(
        sms: Sender | None = None,
        *,
        store_engine: AsyncEngine | None = None,
        claim_lease: timedelta = timedelta(seconds=60),
        heartbeat_every: timedelta | None = None,
        wait_for_other: timedelta = timedelta(seconds=5),
        look_up_after: timedelta = LOOK_UP_AFTER,
    ) -> MessageSending:
        chosen: dict[Channel, Sender] = {**senders, "sms": sms or senders["sms"]}
        return MessageSending(
            EventStore(store_engine or engine),
            settings.templates_dir,
            chosen,
            open_policy(policy),
            claim_lease=claim_lease,
            heartbeat_every=heartbeat_every,
            wait_for_other=wait_for_other,
            look_up_after=look_up_after,
        )

    return build


def sms_request(purpose: Purpose = "informational") -> SendMessageInput:
    return request(channels=["sms"], purpose=purpose)


async def ledger_row(engine: AsyncEngine) -> ledger.LedgerRow:
    row = await ledger.get(engine, request().idempotency_key)
    assert row is not None
    return row


async def test_an_attempt_paused_after_the_provider_call_cannot_overwrite_its_successor(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    paused = StoppingSender(senders["sms"], after_send="pause")
    stale = make(paused, claim_lease=SHORT_LEASE, heartbeat_every=NO_KEEPER)
    stale_task = asyncio.create_task(stale.send(sms_request()))
    await asyncio.wait_for(paused.stopped.wait(), 10)
    await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.3)  # its lease runs out while it is paused

    outcome = await make().send(sms_request())
    # The successor found the paused attempt's message at the provider instead of sending again.
    [sms] = standin.received
    assert (outcome.status, outcome.provider_message_id) == ("sent", sms.sid)

    paused.resume.set()
    with pytest.raises(ledger.ClaimLost):
        await stale_task
    row = await ledger_row(engine)
    assert (row.status, row.provider_message_id, row.attempts) == ("sent", sms.sid, 2)
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


async def test_an_attempt_paused_before_the_provider_call_cannot_send_when_it_wakes(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    key = request().idempotency_key
    async with engine.begin() as conn:  # an earlier attempt reserved SMS, was calling it, then died
        dead = str(uuid.uuid4())
        await ledger.acquire(conn, key, dead, SHORT_LEASE, customer_id="c1")
        await ledger.reserve(conn, key, dead, "sms", "informational", SHORT_LEASE)
        await ledger.start_call(conn, key, dead, SHORT_LEASE)
    await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.1)
    paused = StoppingSender(senders["sms"], before_lookup=True)
    stale = make(paused, claim_lease=SHORT_LEASE, heartbeat_every=NO_KEEPER)
    stale_task = asyncio.create_task(stale.send(sms_request()))
    await asyncio.wait_for(paused.stopped.wait(), 10)
    await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.3)

    # Meanwhile the customer revokes consent and a successor records the suppression.
    await EventStore(engine).append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="consent.changed",
                customer_id="c1",
                occurred_at=datetime.now(UTC),
                source="test",
                payload={"channel": "sms", "purpose": "informational", "granted": False, "method": "web"},
            )
        ]
    )
    await ProjectionRunner(engine).catch_up()
    outcome = await make().send(sms_request())
    assert (outcome.status, outcome.reason) == ("suppressed", "sms: consent_revoked")

    paused.resume.set()  # the look-up finds nothing; it would send now if it still owned the key
    with pytest.raises(ledger.ClaimLost):
        await stale_task
    assert standin.received == []
    assert (await ledger_row(engine)).status == "suppressed"
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.suppressed"]


@pytest.mark.parametrize("purpose", ["informational", "safety"])
async def test_a_crash_after_the_provider_accepted_is_found_by_the_next_attempt(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn, purpose: Purpose
) -> None:
    await add_customer(engine, "c1", consent=[("sms", purpose, True)])
    crashing = make(StoppingSender(senders["sms"], after_send="crash"))
    with pytest.raises(Crash):
        await crashing.send(sms_request(purpose))
    assert (await ledger_row(engine)).status == "ambiguous"

    outcome = await make().send(sms_request(purpose))
    [sms] = standin.received  # not sent twice, whatever the purpose
    assert (outcome.status, outcome.provider_message_id, outcome.duplicate) == ("sent", sms.sid, False)
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


async def test_a_killed_worker_s_accepted_message_is_found_after_its_lease(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "marketing", True)])
    killed = StoppingSender(senders["sms"], after_send="pause")
    doomed = make(killed, claim_lease=SHORT_LEASE, heartbeat_every=NO_KEEPER)
    task = asyncio.create_task(doomed.send(sms_request("marketing")))
    await asyncio.wait_for(killed.stopped.wait(), 10)
    live = make(wait_for_other=timedelta(seconds=3))
    outcome = await live.send(sms_request("marketing"))  # waits out the lease, then looks it up
    assert (outcome.status, outcome.provider_message_id) == ("sent", standin.received[0].sid)
    assert len(standin.received) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_request_the_provider_takes_after_the_client_gave_up_is_found_not_sent_again(
    engine: AsyncEngine, make: Build, settings: Settings, standin: TwilioStandIn
) -> None:
    """The client times out while the request waits in the provider's queue; the provider takes it
    later. A retry that looked it up at once would find nothing and send it again."""
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    impatient = TwilioSmsSender(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=FROM_NUMBER,
        base_url=settings.twilio_base_url,
        timeout_seconds=0.2,
    )
    standin.accept_delay_seconds = 0.8
    try:
        with pytest.raises(TransientSendError, match="interrupted"):
            await make(impatient, look_up_after=timedelta(seconds=1.5)).send(sms_request())
        assert (await ledger_row(engine)).status == "ambiguous" and standin.received == []
        with pytest.raises(SendInProgress):  # not looked up yet: the provider may still take it
            await make(wait_for_other=timedelta(seconds=0.2)).send(sms_request())
        outcome = await make(wait_for_other=timedelta(seconds=5)).send(sms_request())
    finally:
        await impatient.close()
    [sms] = standin.received
    assert (outcome.status, outcome.provider_message_id) == ("sent", sms.sid)


async def test_lookup_unavailable_holds_an_informational_message_for_an_operator(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    with pytest.raises(Crash):
        await make(StoppingSender(senders["sms"], after_send="crash")).send(sms_request())
    standin.lookups_unavailable = True
    for _ in range(2):  # every retry holds it again; none suppresses it
        with pytest.raises(SendHeld, match="not resent blindly"):
            await make().send(sms_request())
    row = await ledger_row(engine)
    assert row.status == "ambiguous" and row.note is not None and row.note.startswith("held:")
    assert len(standin.received) == 1
    assert await message_events(engine, "c1") == []

    # The operator checked the provider's console: it was delivered.
    await resolve_sent(EventStore(engine), request().idempotency_key, standin.received[0].sid)
    outcome = await make().send(sms_request())
    assert (outcome.status, outcome.duplicate, outcome.provider_message_id) == (
        "sent",
        True,
        standin.received[0].sid,
    )
    assert len(standin.received) == 1


async def test_a_held_message_resolved_as_not_sent_goes_out_on_the_next_retry(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    standin.fail_next(502, 20500, "Bad Gateway")  # Twilio kept nothing; we cannot know
    with pytest.raises(Exception, match="twilio 502"):
        await make().send(sms_request())
    standin.lookups_unavailable = True
    with pytest.raises(SendHeld):
        await make().send(sms_request())
    await resolve_not_sent(EventStore(engine), request().idempotency_key)
    outcome = await make().send(sms_request())
    assert (outcome.status, len(standin.received)) == ("sent", 1)


async def test_lookup_unavailable_resends_a_safety_message(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "safety", True)])
    with pytest.raises(Crash):
        await make(StoppingSender(senders["sms"], after_send="crash")).send(sms_request("safety"))
    standin.lookups_unavailable = True
    outcome = await make().send(sms_request("safety"))
    assert len(standin.received) == 2  # a duplicate outage notice rather than none
    assert (outcome.status, outcome.provider_message_id) == ("sent", standin.received[1].sid)
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    # The test server listens on a Unix socket: postgresql://postgres:@/db?host=/tmp/dir
    socket_dir = parse_qs(urlsplit(database_url).query)["host"][0]
    running = TcpProxy(f"{socket_dir}/.s.PGSQL.{urlsplit(database_url).port or 5432}")
    await running.start()
    yield running
    await running.stop()


class OutageAfterSend:
    """The real sender; once the provider accepted, the database goes away for `seconds`."""

    def __init__(self, inner: Sender, proxy: TcpProxy, seconds: float) -> None:
        self.inner, self.proxy, self.seconds = inner, proxy, seconds

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        receipt = await self.inner.send(message)
        self.proxy.cut()
        asyncio.get_running_loop().call_later(self.seconds, self.proxy.restore)
        return receipt

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        return await self.inner.lookup(message, since)

    async def close(self) -> None:
        return None


async def test_a_database_outage_after_the_provider_accepted_is_retried_until_recorded(
    engine: AsyncEngine,
    database_url: str,
    make: Build,
    senders: dict[Channel, Sender],
    standin: TwilioStandIn,
    proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    parts = urlsplit(database_url)
    through_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}", query=""))
    proxied = create_engine(through_proxy)
    try:
        sending = make(OutageAfterSend(senders["sms"], proxy, 1.5), store_engine=proxied)
        outcome = await asyncio.wait_for(sending.send(sms_request()), 30)
    finally:
        await proxied.dispose()
    [sms] = standin.received
    assert (outcome.status, outcome.provider_message_id) == ("sent", sms.sid)
    assert any("cannot record sent yet" in r.getMessage() for r in caplog.records)  # it did fail first
    assert (await ledger_row(engine)).status == "sent"
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


async def test_the_lease_is_renewed_while_a_slow_provider_call_lasts(
    engine: AsyncEngine, make: Build, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    standin.response_delay_seconds = 1.5
    beats: list[float] = []
    slow = make(claim_lease=timedelta(seconds=0.6))
    first = asyncio.create_task(slow.send(sms_request(), heartbeat=lambda: beats.append(1.0)))
    await asyncio.sleep(1.0)  # past the first lease: only the renewals keep the key
    with pytest.raises(SendInProgress):
        await make(wait_for_other=timedelta(seconds=0.3)).send(sms_request())
    outcome = await first
    assert outcome.status == "sent" and len(standin.received) == 1
    assert len(beats) >= 3


async def test_a_crash_between_reservation_and_provider_call_is_resent_without_a_look_up(
    engine: AsyncEngine, make: Build, standin: TwilioStandIn
) -> None:
    # The provider cannot answer a look-up (like Web Push). The crashed attempt reserved SMS but died
    # before calling it: nothing to hold, the next attempt sends once.
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    standin.lookups_unavailable = True
    key = sms_request().idempotency_key
    async with engine.begin() as conn:
        assert await ledger.acquire(conn, key, "crashed", SHORT_LEASE, customer_id="c1") is not None
        assert await ledger.reserve(conn, key, "crashed", "sms", "informational", SHORT_LEASE)
    await asyncio.sleep(SHORT_LEASE.total_seconds() + 0.2)  # the crashed worker renews nothing
    outcome = await make().send(sms_request())
    [sms] = standin.received
    assert (outcome.status, outcome.provider_message_id) == ("sent", sms.sid)
    row = await ledger_row(engine)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_a_crash_during_the_provider_call_is_still_held_when_the_provider_cannot_answer(
    engine: AsyncEngine, make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    paused = StoppingSender(senders["sms"], after_send="pause")
    crashed = asyncio.create_task(
        make(paused, claim_lease=SHORT_LEASE, heartbeat_every=NO_KEEPER).send(sms_request())
    )
    await asyncio.wait_for(paused.stopped.wait(), 10)
    assert (await ledger_row(engine)).status == "calling"
    crashed.cancel()  # dies mid-call
    with pytest.raises(asyncio.CancelledError):
        await crashed
    standin.lookups_unavailable = True
    with pytest.raises(SendHeld):
        await make().send(sms_request())
    assert len(standin.received) == 1
    assert (await ledger_row(engine)).status == "ambiguous"


async def crash_after_the_provider_accepted_then_hold(
    make: Build, senders: dict[Channel, Sender], standin: TwilioStandIn
) -> None:
    """The stand-in has the message; the next attempt cannot look it up, so the row is held."""
    with pytest.raises(Crash):
        await make(StoppingSender(senders["sms"], after_send="crash")).send(sms_request())
    standin.lookups_unavailable = True
    with pytest.raises(SendHeld):
        await make().send(sms_request())


async def test_giving_up_on_a_held_message_the_provider_has_records_it_sent(
    engine: AsyncEngine,
    activities: JourneyActivities,
    make: Build,
    senders: dict[Channel, Sender],
    standin: TwilioStandIn,
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    await crash_after_the_provider_accepted_then_hold(make, senders, standin)
    standin.lookups_unavailable = False  # the provider answers again by the time the retries run out
    given_up = SendGivenUpInput(request=sms_request(), reason="SendHeld: retries ran out")
    await activities.record_send_given_up(given_up)
    await activities.record_send_given_up(given_up)  # a retried give-up records nothing more
    [sms] = standin.received
    row = await ledger_row(engine)
    assert (row.status, row.channel, row.provider_message_id) == ("sent", "sms", sms.sid)
    assert [t for t, _ in await message_and_suppression_events(engine, "c1")] == ["message.sent"]


async def test_giving_up_when_the_provider_cannot_answer_records_message_failed(
    engine: AsyncEngine,
    activities: JourneyActivities,
    make: Build,
    senders: dict[Channel, Sender],
    standin: TwilioStandIn,
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    await crash_after_the_provider_accepted_then_hold(make, senders, standin)
    given_up = SendGivenUpInput(request=sms_request(), reason="SendHeld: retries ran out")
    await activities.record_send_given_up(given_up)
    await activities.record_send_given_up(given_up)
    row = await ledger_row(engine)
    assert (row.status, row.channel) == ("failed", "sms")
    [(event_type, payload)] = await message_and_suppression_events(engine, "c1")
    assert (event_type, payload["reason"]) == ("message.failed", "gave_up: SendHeld: retries ran out")


async def test_giving_up_on_a_reservation_the_provider_never_got_records_message_failed(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    key = request().idempotency_key
    async with engine.begin() as conn:
        await ledger.acquire(conn, key, "crashed", timedelta(minutes=1), customer_id="c1")
        await ledger.reserve(conn, key, "crashed", "sms", "informational", timedelta(minutes=1))
        await conn.execute(update(send_ledger).values(status="ambiguous", owner=None, lease_expires_at=None))
    await activities.record_send_given_up(SendGivenUpInput(request=sms_request(), reason="x"))
    assert standin.received == []
    assert (await ledger_row(engine)).status == "failed"
    assert [t for t, _ in await message_and_suppression_events(engine, "c1")] == ["message.failed"]


async def test_giving_up_after_a_recorded_outcome_changes_nothing(
    engine: AsyncEngine, activities: JourneyActivities, make: Build, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    await make().send(sms_request())
    await activities.record_send_given_up(SendGivenUpInput(request=sms_request(), reason="late"))
    assert (await ledger_row(engine)).status == "sent"
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


async def test_giving_up_waits_for_a_live_attempt(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    async with engine.begin() as conn:
        await ledger.acquire(
            conn, request().idempotency_key, str(uuid.uuid4()), timedelta(minutes=1), customer_id="c1"
        )
    with pytest.raises(SendInProgress):
        await activities.record_send_given_up(SendGivenUpInput(request=sms_request(), reason="x"))
    async with engine.begin() as conn:
        await conn.execute(update(send_ledger).values(lease_expires_at=None))
    await activities.record_send_given_up(SendGivenUpInput(request=sms_request(), reason="x"))
    assert (await ledger_row(engine)).status == "failed"
