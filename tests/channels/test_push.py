"""The Web Push sender against the push stand-in, through pywebpush, over real HTTP and a real database:
each browser decrypts what it received with its own keys."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import http_ece
import pytest
from py_vapid import Vapid
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    TransientSendError,
)
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.push import (
    MAX_PLAINTEXT_BYTES,
    VapidKeyError,
    WebPushSender,
    application_server_key,
    classify_push_status,
    provider_message_id,
    topic,
    vapid_private_key,
    vapid_signer,
)
from gridjourney.channels.push_standin import PushStandIn, PushSubscriber, new_subscriber
from gridjourney.config import Settings
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import PushSender
from gridjourney.projections.push_subscriptions import subscriptions_of
from gridjourney.projections.runner import ProjectionRunner

SUBJECT = "mailto:alerts@utility.example"


@pytest.fixture
async def service() -> AsyncIterator[PushStandIn]:
    async with PushStandIn() as running:
        yield running


@pytest.fixture
def vapid() -> Any:
    key = Vapid()
    key.generate_keys()
    return key


@pytest.fixture
async def sender(engine: AsyncEngine, vapid: Any) -> AsyncIterator[WebPushSender]:
    # the stand-in listens on 127.0.0.1: allowed as the embedded stack allows it
    push = WebPushSender(
        engine=engine, vapid=vapid, vapid_subject=SUBJECT, timeout_seconds=2.0, local_endpoints=True
    )
    yield push
    await push.close()


def event(event_type: str, customer_id: str, payload: dict[str, Any]) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="test",
        payload=payload,
    )


async def subscribe(engine: AsyncEngine, customer_id: str, *subscribers: PushSubscriber) -> None:
    """The customer and their browsers, as the API records them, projected."""
    events = [event("customer.created", customer_id, {"name": "Ana"})]
    for subscriber in subscribers:
        payload = {"endpoint": subscriber.endpoint, "p256dh": subscriber.p256dh, "auth": subscriber.auth}
        events.append(event("push.subscribed", customer_id, payload))
    await EventStore(engine).append(events)
    await ProjectionRunner(engine).catch_up()


def message(key: str = "send-1", purpose: str = "safety", customer_id: str | None = "C-1") -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=key,
        channel="push",
        customer_id=customer_id,
        purpose=purpose,
        recipient="(the customer's browsers)",
        subject="Power outage at your address",
        body="Crews are on it. Estimated restoration: 6:30 PM.",
        url="https://utility.example/outages",
    )


async def unsubscribed_events(engine: AsyncEngine, customer_id: str = "C-1") -> list[dict[str, Any]]:
    return [
        e.payload
        for e in await EventStore(engine).read_customer(customer_id)
        if e.type == "push.unsubscribed"
    ]


async def endpoints(engine: AsyncEngine, customer_id: str = "C-1") -> list[str]:
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        return [s.endpoint for s in await subscriptions_of(conn, customer_id)]


async def test_every_browser_gets_the_notification_and_decrypts_title_body_and_url(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender, vapid: Any
) -> None:
    phone = service.new_subscriber(application_server_key=application_server_key(vapid))
    laptop = service.new_subscriber()
    await subscribe(engine, "C-1", phone, laptop)

    receipt = await sender.send(message())

    assert receipt.provider == "webpush" and receipt.status == "created"
    assert receipt.provider_message_id.startswith(f"{service.base_url}/m/")
    for subscriber in (phone, laptop):
        [received] = service.received_by(subscriber)
        assert json.loads(subscriber.decrypt(received.body)) == {
            "title": "Power outage at your address",
            "body": "Crews are on it. Estimated restoration: 6:30 PM.",
            "url": "https://utility.example/outages",
        }
        assert received.content_encoding == "aes128gcm"
        assert (received.urgency, received.ttl) == ("high", 12 * 3600)  # safety: wake the device
        assert received.topic == topic("send-1")
        assert received.vapid_subject == SUBJECT
        assert received.vapid_key == application_server_key(vapid)
    # Another browser's keys cannot read it.
    with pytest.raises(http_ece.ECEException):
        laptop.decrypt(service.received_by(phone)[0].body)


async def test_marketing_is_low_urgency(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    browser = service.new_subscriber()
    await subscribe(engine, "C-1", browser)
    await sender.send(message(purpose="marketing"))
    [received] = service.received_by(browser)
    assert (received.urgency, received.ttl) == ("low", 24 * 3600)


async def test_a_gone_browser_is_unsubscribed_and_the_other_takes_the_message(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    old, current = service.new_subscriber(), service.new_subscriber()
    await subscribe(engine, "C-1", old, current)
    service.gone(old)

    receipt = await sender.send(message())

    assert receipt.status == "created"
    assert len(service.received_by(current)) == 1 and service.received_by(old) == []
    assert await unsubscribed_events(engine) == [
        {"endpoint": old.endpoint, "reason": "gone: the push service answered 410"}
    ]
    assert await endpoints(engine) == [current.endpoint]


async def test_when_every_browser_is_gone_the_recipient_is_invalid_and_recorded_once(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    gone = service.new_subscriber()
    unknown = new_subscriber(service.base_url)  # an endpoint the service never issued: 404
    await subscribe(engine, "C-1", gone, unknown)
    service.gone(gone)

    with pytest.raises(PermanentSendError) as raised:
        await sender.send(message())
    assert raised.value.invalid_recipient is True
    # A retry of the same send (before the projection caught up) records nothing twice.
    with pytest.raises(PermanentSendError):
        await sender.send(message())

    assert sorted((p["endpoint"], p["reason"]) for p in await unsubscribed_events(engine)) == sorted(
        [
            (gone.endpoint, "gone: the push service answered 410"),
            (unknown.endpoint, "gone: the push service answered 404"),
        ]
    )
    assert await endpoints(engine) == []
    with pytest.raises(PermanentSendError, match="no push subscription") as none_left:
        await sender.send(message("send-2"))
    assert none_left.value.invalid_recipient is True


async def test_a_wrong_vapid_key_is_refused_and_retried_later(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    someone_else = Vapid()
    someone_else.generate_keys()
    browser = service.new_subscriber(application_server_key=application_server_key(someone_else))
    await subscribe(engine, "C-1", browser)

    with pytest.raises(TransientSendError) as raised:
        await sender.send(message())

    assert (raised.value.code, raised.value.maybe_accepted) == ("403", False)
    assert service.received == []
    assert await endpoints(engine) == [browser.endpoint]  # our key is wrong, not the subscription


@pytest.mark.parametrize(("status", "maybe_accepted"), [(503, True), (429, False)])
async def test_an_unavailable_or_throttling_push_service_is_transient(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender, status: int, maybe_accepted: bool
) -> None:
    browser = service.new_subscriber()
    await subscribe(engine, "C-1", browser)
    service.fail_next(status)

    with pytest.raises(TransientSendError) as raised:
        await sender.send(message())
    assert (raised.value.code, raised.value.maybe_accepted) == (str(status), maybe_accepted)

    assert (await sender.send(message())).status == "created"  # the retry goes through
    assert len(service.received_by(browser)) == 1


async def test_a_push_service_that_cannot_be_reached_or_answers_too_late(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = new_subscriber(f"http://127.0.0.1:{closed_port}")
    await subscribe(engine, "C-1", nowhere)
    with pytest.raises(TransientSendError) as refused:
        await sender.send(message())
    assert refused.value.maybe_accepted is False

    slow = service.new_subscriber()
    await subscribe(engine, "C-2", slow)
    service.response_delay_seconds = 5.0  # over the sender's 2 s deadline
    with pytest.raises(TransientSendError) as late:
        await sender.send(message(customer_id="C-2"))
    assert late.value.maybe_accepted is True  # it was in fact recorded before the answer
    assert len(service.received_by(slow)) == 1


async def test_refusals_before_any_push(engine: AsyncEngine, sender: WebPushSender) -> None:
    await subscribe(engine, "C-1")
    with pytest.raises(PermanentSendError, match="no push subscription"):
        await sender.send(message())
    too_long = message().model_copy(update={"body": "x" * MAX_PLAINTEXT_BYTES})
    with pytest.raises(PermanentSendError, match="bytes"):
        await sender.send(too_long)
    with pytest.raises(PermanentSendError, match="cannot send sms"):
        await sender.send(message().model_copy(update={"channel": "sms"}))
    with pytest.raises(LookupUnavailable):
        await sender.lookup(message(), datetime.now(UTC))


async def test_without_a_customer_id_only_the_named_endpoint_is_reached(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    named, other = service.new_subscriber(), service.new_subscriber()
    await subscribe(engine, "C-1", named, other)
    await sender.send(message(customer_id=None).model_copy(update={"recipient": named.endpoint}))
    assert (len(service.received_by(named)), len(service.received_by(other))) == (1, 0)


@pytest.mark.parametrize(
    ("status", "kind", "maybe_accepted"),
    [
        (404, None, None),
        (410, None, None),
        (400, PermanentSendError, None),
        (413, PermanentSendError, None),
        (401, TransientSendError, False),
        (403, TransientSendError, False),
        (429, TransientSendError, False),
        (500, TransientSendError, True),
        (502, TransientSendError, True),
    ],
)
def test_classify_push_status(status: int, kind: type | None, maybe_accepted: bool | None) -> None:
    error = classify_push_status(status, "refused")
    if kind is None:
        assert error is None
        return
    assert error is not None and isinstance(error, kind) and error.code == str(status)
    if maybe_accepted is not None:
        assert isinstance(error, TransientSendError) and error.maybe_accepted is maybe_accepted


def test_the_vapid_key_is_generated_once_under_home_or_taken_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = vapid_private_key(settings)
    assert vapid_private_key(settings) == first
    assert ((tmp_path / "home" / "vapid-private-key.txt").stat().st_mode & 0o777) == 0o600
    signer = vapid_signer(settings)
    assert application_server_key(signer) == application_server_key(vapid_signer(settings))

    configured = Settings(home=tmp_path / "other", vapid_private_key=SecretStr(first))
    assert application_server_key(vapid_signer(configured)) == application_server_key(signer)
    assert not (tmp_path / "other").exists()
    for bad in ("not base64!", "AAAA", "_" * 43):
        with pytest.raises(VapidKeyError, match="GRIDJOURNEY_VAPID_PRIVATE_KEY"):
            vapid_signer(Settings(home=tmp_path, vapid_private_key=SecretStr(bad)))


def test_the_provider_message_id_fits_the_log() -> None:
    short = "https://push.example.net/m/abc"
    assert provider_message_id(short, "k") == short
    long = "https://updates.push.example.net/m/" + "g" * 200
    digest = provider_message_id(long, "k")
    assert digest.startswith("webpush:") and len(digest) <= 100
    assert digest == provider_message_id(long, "other key") != provider_message_id(long + "x", "k")
    assert provider_message_id(None, "k") == f"webpush:{topic('k')}"


def test_a_vapid_subject_push_services_would_refuse_stops_the_sender_from_being_built(
    engine: AsyncEngine, vapid: Any
) -> None:
    for subject in ("https://utility.example/contact", "mailto:nobody"):
        with pytest.raises(VapidKeyError, match="vapid_subject"):
            WebPushSender(engine=engine, vapid=vapid, vapid_subject=subject)
    assert WebPushSender(engine=engine, vapid=vapid, vapid_subject="https://utility.example").vapid_subject


def test_the_policy_refuses_the_vapid_subjects_the_sender_would() -> None:
    for subject in ("https://utility.example/contact", "mailto:nobody", "alerts@utility.example"):
        with pytest.raises(ValidationError, match="vapid_subject"):
            PushSender(vapid_subject=subject)
    for subject in ("mailto:alerts@utility.example", "https://utility.example:8443"):
        assert PushSender(vapid_subject=subject).vapid_subject == subject


async def test_a_batch_reads_its_customers_subscriptions_once_before_sending(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    browsers = {customer: service.new_subscriber() for customer in ("C-1", "C-2", "C-3")}
    for customer, browser in browsers.items():
        await subscribe(engine, customer, browser)
    await EventStore(engine).append([event("customer.created", "C-4", {"name": "Bo"})])  # no browser
    batch = [message(f"k-{c}", customer_id=c) for c in ("C-1", "C-2", "C-3", "C-4")]

    prepared = await sender.with_subscriptions_of(batch)
    # Unsubscribed after the read: the batch still goes where the read found browsers, so the
    # sends did not read again, message by message.
    gone = browsers["C-2"]
    await EventStore(engine).append([event("push.unsubscribed", "C-2", {"endpoint": gone.endpoint})])
    await ProjectionRunner(engine).catch_up()
    assert await endpoints(engine, "C-2") == []
    receipts = [await prepared.send(m) for m in batch[:3]]

    assert all(r.status == "created" for r in receipts)
    for browser in browsers.values():
        assert len(service.received_by(browser)) == 1
    with pytest.raises(PermanentSendError) as refused:
        await prepared.send(batch[3])
    assert refused.value.invalid_recipient
    # A customer the batch did not name reads their own subscriptions, as a single send does.
    late = service.new_subscriber()
    await subscribe(engine, "C-5", late)
    await prepared.send(message("k-C-5", customer_id="C-5"))
    assert len(service.received_by(late)) == 1


async def test_provider_calls_send_a_push_batch_with_one_read(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    browsers = {f"C-{n}": service.new_subscriber() for n in range(1, 6)}
    for customer, browser in browsers.items():
        await subscribe(engine, customer, browser)
    answers = await ProviderCalls({"push": sender}).send([message(f"k-{c}", customer_id=c) for c in browsers])
    assert not any(isinstance(answer, Exception) for answer in answers)
    assert all(len(service.received_by(browser)) == 1 for browser in browsers.values())


async def test_pushes_to_one_push_service_share_one_vapid_signature(
    engine: AsyncEngine, service: PushStandIn, sender: WebPushSender
) -> None:
    browsers = {f"C-{n}": service.new_subscriber() for n in range(1, 21)}
    for customer, browser in browsers.items():
        await subscribe(engine, customer, browser)
    answers = await ProviderCalls({"push": sender}).send([message(f"k-{c}", customer_id=c) for c in browsers])
    assert not any(isinstance(answer, Exception) for answer in answers)
    # Every push verified by the service (VAPID and decryption), one token signed for all of them.
    assert all(len(service.received_by(browser)) == 1 for browser in browsers.values())
    assert sender.vapid_tokens.signed == 1
