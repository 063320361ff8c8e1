"""SendGridEmailSender against the stand-in over real HTTP, through the official sendgrid client."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    TransientSendError,
)
from gridjourney.channels.email import EmailIdentity, SendGridEmailSender
from gridjourney.channels.registry import build_senders, close_senders
from gridjourney.channels.sendgrid_standin import SendGridStandIn, standin_from_settings
from gridjourney.config import Settings
from gridjourney.content import render
from gridjourney.inbound.unsubscribe import Unsubscribe, UnsubscribeLinks, unsubscribe_links
from tests.channels.sendgrid_fixtures import API_KEY

ROOT = Path(__file__).resolve().parents[2]
LINKS = UnsubscribeLinks([b"test-secret"], "https://gj.example")
IDENTITY = EmailIdentity("alerts@gridjourney.example", "Gridjourney Energy", "help@gridjourney.example")
CONTEXT: dict[str, Any] = {
    "customer": {"customer_id": "c1", "name": "<b>Ana</b>"},
    "event": {"projected_amount": 182.4, "typical_amount": 120, "days_left": 9},
}


@pytest.fixture
async def standin() -> AsyncIterator[SendGridStandIn]:
    async with SendGridStandIn("127.0.0.1", 0, api_key=API_KEY) as running:
        yield running


def sender_for(base_url: str, **options: Any) -> SendGridEmailSender:
    return SendGridEmailSender(api_key=API_KEY, identity=IDENTITY, links=LINKS, base_url=base_url, **options)


def email(to: str = "ana@example.org", locale: str = "en", **fields: Any) -> OutgoingMessage:
    rendered = render(ROOT / "templates", "email", "high_bill_alert", locale, CONTEXT)
    values: dict[str, Any] = {
        "idempotency_key": "hb:c1:1",
        "channel": "email",
        "customer_id": "c1",
        "purpose": "informational",
        "locale": rendered.locale,
        "recipient": to,
        "subject": rendered.subject,
        "body": rendered.body,
        "html": rendered.html,
    }
    return OutgoingMessage(**(values | fields))


async def test_an_email_goes_out_with_both_parts_the_unsubscribe_headers_and_custom_args(
    standin: SendGridStandIn,
) -> None:
    receipt = await sender_for(standin.base_url).send(email())
    [received] = standin.received
    assert (receipt.provider, receipt.provider_message_id) == ("sendgrid", received.message_id)
    assert (received.to, received.from_email, received.from_name) == (
        "ana@example.org",
        "alerts@gridjourney.example",
        "Gridjourney Energy",
    )
    assert received.subject == "Your bill is on track to be $182.40"
    assert received.custom_args == {
        "gridjourney_key": "hb:c1:1",
        "gridjourney_customer": "c1",
        "gridjourney_purpose": "informational",
    }
    # RFC 8058: the https link alone (no mailbox reads unsubscribe mail), and the one-click marker.
    header = received.headers["List-Unsubscribe"]
    assert header.startswith("<") and header.endswith(">") and "mailto:" not in header
    url = header.removeprefix("<").removesuffix(">")
    assert url.startswith("https://gj.example/u/")
    assert LINKS.read(url.removeprefix("https://gj.example/u/")) == Unsubscribe(
        "c1", "email", "informational"
    )
    assert received.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The footer links to the same URL in both parts.
    assert received.text is not None and received.html is not None
    assert received.text.startswith("Hi <b>Ana</b>,")  # text is text
    assert received.text.endswith(
        f"You get account alerts by email from Gridjourney Energy.\nUnsubscribe: {url}\n"
    )
    assert f'<a href="{url}">Unsubscribe</a></p></body>' in received.html
    # Autoescape: the customer's name is text in the HTML part too, never markup.
    assert "<p>Hi &lt;b&gt;Ana&lt;/b&gt;,</p>" in received.html
    assert "<b>" not in received.html


async def test_nothing_personal_or_secret_is_logged_even_at_debug(
    standin: SendGridStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sender_for(standin.base_url).send(email())
    await sender_for(standin.base_url, activity_lag=timedelta(0)).lookup(email(), datetime.now(UTC))
    assert len(standin.received) == 1
    for secret in ("Ana", "ana@example.org", API_KEY):
        assert secret not in caplog.text


async def test_the_footer_speaks_the_messages_language(standin: SendGridStandIn) -> None:
    await sender_for(standin.base_url).send(email(locale="es", purpose="marketing"))
    [received] = standin.received
    assert (
        received.text is not None
        and "Recibe ofertas y novedades por correo de Gridjourney Energy." in received.text
    )
    assert received.html is not None and ">Cancelar la suscripción</a>" in received.html


async def test_an_email_without_its_customer_and_purpose_is_refused(standin: SendGridStandIn) -> None:
    with pytest.raises(PermanentSendError, match="unsubscribe link"):
        await sender_for(standin.base_url).send(email(customer_id=None))
    assert standin.received == []


async def test_an_invalid_address_is_a_permanent_recipient_error(standin: SendGridStandIn) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await sender_for(standin.base_url).send(email(to="ana.example.org"))
    assert raised.value.invalid_recipient
    assert raised.value.code == "400"
    assert "personalizations.0.to.0.email" in raised.value.reason


async def test_throttling_and_a_wrong_key_are_transient_and_not_accepted(standin: SendGridStandIn) -> None:
    standin.fail_next(429, "too many requests")
    with pytest.raises(TransientSendError) as throttled:
        await sender_for(standin.base_url).send(email())
    assert not throttled.value.maybe_accepted
    wrong_key = SendGridEmailSender(
        api_key="SG.wrong", identity=IDENTITY, links=LINKS, base_url=standin.base_url
    )
    with pytest.raises(TransientSendError) as refused:
        await wrong_key.send(email())
    assert (refused.value.code, refused.value.maybe_accepted) == ("401", False)
    assert standin.received == []


async def test_a_gateway_error_may_hide_an_accepted_message(standin: SendGridStandIn) -> None:
    standin.fail_next(502, "Bad Gateway")
    with pytest.raises(TransientSendError) as raised:
        await sender_for(standin.base_url).send(email())
    assert raised.value.maybe_accepted


async def test_an_unreachable_provider_is_transient_and_not_accepted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(TransientSendError) as raised:
        await sender_for(f"http://127.0.0.1:{free_port}").send(email())
    assert not raised.value.maybe_accepted
    assert "cannot reach SendGrid" in raised.value.reason


async def test_a_timeout_after_the_request_left_may_have_been_accepted(standin: SendGridStandIn) -> None:
    standin.response_delay_seconds = 2.0
    with pytest.raises(TransientSendError) as raised:
        await sender_for(standin.base_url, timeout_seconds=0.3).send(email())
    assert raised.value.maybe_accepted
    assert len(standin.received) == 1  # it was accepted: the ambiguous case is real


async def test_lookup_finds_the_accepted_message_by_its_key(standin: SendGridStandIn) -> None:
    sender = sender_for(standin.base_url, activity_lag=timedelta(0))
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert await sender.lookup(email(), since) is None
    receipt = await sender.send(email())
    found = await sender.lookup(email(), since)
    assert found is not None
    assert (found.provider, found.provider_message_id, found.status) == (
        "sendgrid",
        receipt.provider_message_id,
        "delivered",
    )
    assert await sender.lookup(email(idempotency_key="hb:c1:2"), since) is None


async def test_lookup_cannot_say_not_sent_while_the_activity_feed_may_lag(standin: SendGridStandIn) -> None:
    sender = sender_for(standin.base_url, activity_lag=timedelta(minutes=5))
    with pytest.raises(LookupUnavailable, match="late"):
        await sender.lookup(email(), datetime.now(UTC) - timedelta(minutes=1))
    assert await sender.lookup(email(), datetime.now(UTC) - timedelta(minutes=10)) is None


async def test_lookup_is_unavailable_when_sendgrid_cannot_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(LookupUnavailable):
        await sender_for(f"http://127.0.0.1:{free_port}").lookup(email(), datetime.now(UTC))
    with pytest.raises(LookupUnavailable, match="cannot quote"):
        await sender_for(f"http://127.0.0.1:{free_port}").lookup(
            email(idempotency_key='a"b'), datetime.now(UTC)
        )


async def test_default_settings_send_email_to_the_embedded_standin(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        email_standin_port=port, sms_standin_port=port, home=tmp_path, public_base_url="https://gj.example"
    )
    senders = build_senders(settings, engine)
    async with standin_from_settings(settings) as standin:
        receipt = await senders["email"].send(email())
        await close_senders(senders)
        await standin.stop()  # its webhook posts go to the configured public URL, which is not running
    [received] = standin.received
    assert receipt.provider_message_id == received.message_id
    assert (received.from_email, received.from_name) == (
        "alerts@cascadepower.example",
        "Cascade Power",
    )  # policy.yaml's
    token = received.headers["List-Unsubscribe"].split(">")[0].removeprefix("<https://gj.example/u/")
    assert unsubscribe_links(settings).read(token) == Unsubscribe("c1", "email", "informational")


def member_email(n: int, **fields: Any) -> OutgoingMessage:
    """Member n's copy of one notice: the same content, its own key, customer and address."""
    return email(to=f"member{n}@example.org").model_copy(
        update={"idempotency_key": f"cohort:dr:EV-1:notice:1:c{n}", "customer_id": f"c{n}"} | fields
    )


async def test_many_emails_share_requests_of_at_most_1000_personalizations(standin: SendGridStandIn) -> None:
    sender = sender_for(standin.base_url)
    same = [member_email(n) for n in range(2300)]
    other = [member_email(n, subject="Another subject") for n in range(2300, 2305)]
    answers = await sender.send_many([*same, *other])

    # Up to SendGrid's 1,000 a request; another subject is a substitution, not another request.
    assert sorted(standin.requests) == [305, 1000, 1000]
    assert len(standin.received) == 2305
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    for message, answer in zip([*same, *other], answers, strict=True):
        received = by_key[message.idempotency_key]
        assert not isinstance(answer, Exception) and answer.provider_message_id == received.message_id
        assert received.to == message.recipient
        assert received.custom_args["gridjourney_customer"] == message.customer_id
        # Each copy carries its own customer's unsubscribe link, in the header and the footer.
        url = LINKS.url(str(message.customer_id), "email", "informational")
        assert received.headers["List-Unsubscribe"] == f"<{url}>"
        assert received.text is not None and url in received.text and "-gridjourney_" not in received.text
        assert received.html is not None and url in received.html
    # The per-customer look-up (Email Activity by the key) finds a copy sent in a shared request.
    found = await sender.lookup(same[1234], datetime.now(UTC) - timedelta(minutes=1))
    assert found is not None and found.provider_message_id == by_key[same[1234].idempotency_key].message_id


async def test_a_refused_address_fails_alone_in_a_shared_request(standin: SendGridStandIn) -> None:
    messages = [member_email(0), member_email(1, recipient="not-an-address"), member_email(2)]
    answers = await sender_for(standin.base_url).send_many(messages)
    assert isinstance(answers[1], PermanentSendError) and answers[1].invalid_recipient
    assert not isinstance(answers[0], Exception) and not isinstance(answers[2], Exception)
    assert sorted(r.to for r in standin.received) == ["member0@example.org", "member2@example.org"]


def named_email(n: int, name: str, **fields: Any) -> OutgoingMessage:
    """Member n's own rendering of a notice that greets by name."""
    context = CONTEXT | {"customer": {"customer_id": f"c{n}", "name": name}}
    rendered = render(ROOT / "templates", "email", "high_bill_alert", "en", context)
    values = {"subject": f"{name}, {rendered.subject}", "body": rendered.body, "html": rendered.html}
    return member_email(n, **(values | fields))


def as_sent_alone(sender: SendGridEmailSender, message: OutgoingMessage) -> tuple[str, str, str]:
    """(subject, text, html) of `message` in a request of its own: what its customer must receive."""
    body = sender.mail(message)
    parts = {part["type"]: part["value"] for part in body["content"]}
    return body["subject"], parts["text/plain"], parts["text/html"]


async def test_emails_greeting_each_member_by_name_share_requests(standin: SendGridStandIn) -> None:
    sender = sender_for(standin.base_url)
    names = ["Ana", "<b>Bo</b>", "Zoë Ølsen", "Customer -gridjourney-", "A & B"]
    messages = [named_email(n, f"{names[n % len(names)]} {n}") for n in range(1200)]
    answers = await sender.send_many(messages)

    # 1,200 different emails in two requests, not 1,200.
    assert sorted(standin.requests) == [200, 1000]
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    for message, answer in zip(messages, answers, strict=True):
        received = by_key[message.idempotency_key]
        assert not isinstance(answer, Exception) and answer.provider_message_id == received.message_id
        # Exactly the email this customer would get alone: their name, their unsubscribe link.
        assert (received.subject, received.text, received.html) == as_sent_alone(sender, message)
        assert received.to == message.recipient
        assert received.custom_args["gridjourney_customer"] == message.customer_id
    found = await sender.lookup(messages[1100], datetime.now(UTC) - timedelta(minutes=1))
    assert found is not None
    assert found.provider_message_id == by_key[messages[1100].idempotency_key].message_id


async def test_an_email_whose_differences_are_too_large_to_share_goes_alone(
    standin: SendGridStandIn,
) -> None:
    sender = sender_for(standin.base_url)
    long_name = "Ana " + "x" * 12_000  # over SendGrid's 10,000 bytes of substitutions
    messages = [named_email(0, "Ana"), named_email(1, long_name), named_email(2, "Bo")]
    answers = await sender.send_many(messages)

    assert sorted(standin.requests) == [1, 2]
    assert not any(isinstance(answer, Exception) for answer in answers)
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    for message in messages:
        received = by_key[message.idempotency_key]
        assert (received.subject, received.text, received.html) == as_sent_alone(sender, message)


async def test_a_content_that_holds_a_substitution_tag_goes_alone_and_verbatim(
    standin: SendGridStandIn,
) -> None:
    sender = sender_for(standin.base_url)
    messages = [named_email(0, "Ana"), named_email(1, "-gridjourney_text-"), named_email(2, "Bo")]
    await sender.send_many(messages)

    assert sorted(standin.requests) == [1, 2]
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    received = by_key[messages[1].idempotency_key]
    assert received.text is not None and "Hi -gridjourney_text-," in received.text
    assert (received.subject, received.text, received.html) == as_sent_alone(sender, messages[1])


async def test_a_refused_address_fails_alone_among_named_emails(standin: SendGridStandIn) -> None:
    sender = sender_for(standin.base_url)
    messages = [named_email(n, f"Member {n}") for n in range(5)]
    messages[3] = messages[3].model_copy(update={"recipient": "not-an-address"})
    answers = await sender.send_many(messages)

    assert isinstance(answers[3], PermanentSendError) and answers[3].invalid_recipient
    assert [isinstance(answer, Exception) for answer in answers] == [False, False, False, True, False]
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    assert len(by_key) == 4
    for n in (0, 1, 2, 4):
        received = by_key[messages[n].idempotency_key]
        assert (received.subject, received.text, received.html) == as_sent_alone(sender, messages[n])


async def test_emails_that_cannot_share_go_in_concurrent_requests(standin: SendGridStandIn) -> None:
    # Each with headers of its own: no two share a request. One after another they would take
    # 24 x 0.25 s = 6 s; in flight together (EMAIL_CONCURRENCY) a few round trips.
    standin.response_delay_seconds = 0.25
    messages = [member_email(n, headers={"X-Campaign": f"c{n}"}) for n in range(24)]
    started = time.monotonic()
    answers = await sender_for(standin.base_url).send_many(messages)
    elapsed = time.monotonic() - started

    assert sorted(standin.requests) == [1] * 24
    assert not any(isinstance(answer, Exception) for answer in answers)
    by_key = {r.custom_args["gridjourney_key"]: r for r in standin.received}
    for message, answer in zip(messages, answers, strict=True):
        assert not isinstance(answer, Exception)
        assert answer.provider_message_id == by_key[message.idempotency_key].message_id
        assert by_key[message.idempotency_key].headers["X-Campaign"] == message.headers["X-Campaign"]
    assert elapsed < 3.0, f"24 requests took {elapsed:.1f} s: they went one after another"
