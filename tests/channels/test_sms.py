"""TwilioSmsSender against the stand-in over real HTTP (the official client's async path)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    TransientSendError,
)
from gridjourney.channels.sms import TWILIO_HTTP_LOG, TwilioSmsSender, form_body
from gridjourney.channels.twilio_standin import TwilioStandIn
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN

FROM = "+15005550006"
# Text as Twilio's form fields carry it (no lone surrogates: those cannot be UTF-8 at all).
FIELD_TEXT = st.text(st.characters(exclude_categories=["Cs"]))
FIELD_VALUE = st.one_of(FIELD_TEXT, st.integers(), st.lists(FIELD_TEXT, max_size=3), st.binary(max_size=8))


def sms(
    to: str, body: str = "Power is out at your address. Estimated restoration 6:30 PM."
) -> OutgoingMessage:
    return OutgoingMessage(idempotency_key="k1", channel="sms", recipient=to, body=body)


@pytest.fixture
async def sender(standin: TwilioStandIn) -> AsyncIterator[TwilioSmsSender]:
    sender = TwilioSmsSender(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM, base_url=standin.base_url
    )
    yield sender
    await sender.close()


async def test_send_returns_the_providers_receipt(sender: TwilioSmsSender, standin: TwilioStandIn) -> None:
    receipt = await sender.send(sms("+15035550100"))
    [received] = standin.received
    assert receipt.provider == "twilio"
    assert receipt.provider_message_id == received.sid
    assert receipt.status == "queued"
    assert receipt.segments == 1
    assert (received.to, received.from_) == ("+15035550100", FROM)


async def test_a_send_logs_nothing_at_info(sender: TwilioSmsSender, caplog: pytest.LogCaptureFixture) -> None:
    # The official client logs every request and answer at INFO, about ten lines: a send worker
    # logging at INFO wrote them for each SMS.
    caplog.set_level(logging.INFO)
    await sender.send(sms("+15035550100"))
    assert [
        r.getMessage() for r in caplog.records if r.name.startswith(("twilio", TWILIO_HTTP_LOG.name))
    ] == []


async def test_long_unicode_body_counts_its_segments(sender: TwilioSmsSender) -> None:
    receipt = await sender.send(sms("+15035550100", body="Corte de energía ⚡ " * 6))
    assert receipt.segments == 2


async def test_an_invalid_number_is_a_permanent_recipient_error(sender: TwilioSmsSender) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await sender.send(sms("+1503"))
    assert raised.value.code == "21211"
    assert raised.value.invalid_recipient


async def test_a_throttled_provider_is_transient_and_not_accepted(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    standin.fail_next(429, 20429, "Too Many Requests")
    with pytest.raises(TransientSendError) as raised:
        await sender.send(sms("+15035550100"))
    assert not raised.value.maybe_accepted
    # The next attempt goes through.
    await sender.send(sms("+15035550100"))
    assert len(standin.received) == 1


async def test_a_gateway_error_may_hide_an_accepted_message(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    standin.fail_next(502, 20500, "Bad Gateway")
    with pytest.raises(TransientSendError) as raised:
        await sender.send(sms("+15035550100"))
    assert raised.value.maybe_accepted


async def test_wrong_credentials_are_transient_so_no_message_is_lost(standin: TwilioStandIn) -> None:
    sender = TwilioSmsSender(
        account_sid=ACCOUNT_SID, auth_token="wrong", from_number=FROM, base_url=standin.base_url
    )
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send(sms("+15035550100"))
    finally:
        await sender.close()
    assert raised.value.code == "20003"
    assert not raised.value.maybe_accepted


async def test_an_unreachable_provider_is_transient_and_not_accepted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    sender = TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM,
        base_url=f"http://127.0.0.1:{free_port}",
    )
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send(sms("+15035550100"))
    finally:
        await sender.close()
    assert not raised.value.maybe_accepted
    assert "cannot reach Twilio" in raised.value.reason


async def test_a_timeout_after_the_request_left_may_have_been_accepted(standin: TwilioStandIn) -> None:
    sender = TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM,
        base_url=standin.base_url,
        timeout_seconds=0.2,
    )
    standin.response_delay_seconds = 2.0
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send(sms("+15035550100"))
    finally:
        await sender.close()
    assert raised.value.maybe_accepted
    assert len(standin.received) == 1  # it was accepted: the ambiguous case is real


async def test_lookup_finds_the_message_an_earlier_attempt_sent(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    since = datetime.now(UTC)
    receipt = await sender.send(sms("+15035550100"))
    await sender.send(sms("+15035550100", body="Another message to the same number."))
    await sender.send(sms("+15035550199"))
    found = await sender.lookup(sms("+15035550100"), since)
    assert found is not None
    assert found.provider_message_id == receipt.provider_message_id
    assert found.segments == 1


async def test_lookup_finds_nothing_for_a_message_never_sent(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    await sender.send(sms("+15035550100", body="Something else."))
    assert await sender.lookup(sms("+15035550100"), datetime.now(UTC)) is None
    # Sent the day before the attempt began: not this attempt's message.
    await sender.send(sms("+15035550100"))
    day_before = standin.received[1].date_created - timedelta(days=1)
    standin.received[1].date_created = standin.received[1].date_sent = day_before
    assert await sender.lookup(sms("+15035550100"), datetime.now(UTC)) is None


async def test_lookup_unavailable_when_the_provider_cannot_list(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    standin.lookups_unavailable = True
    with pytest.raises(LookupUnavailable, match="503"):
        await sender.lookup(sms("+15035550100"), datetime.now(UTC))


async def test_lookup_finds_a_message_still_queued_at_twilio(
    sender: TwilioSmsSender, standin: TwilioStandIn
) -> None:
    standin.sends_at_once = False  # queued: no DateSent, so the DateSent filter cannot see it
    since = datetime.now(UTC)
    receipt = await sender.send(sms("+15035550100"))
    found = await sender.lookup(sms("+15035550100"), since)
    assert found is not None and found.provider_message_id == receipt.provider_message_id


@given(st.dictionaries(FIELD_TEXT, FIELD_VALUE, max_size=6))
def test_the_form_body_is_the_bytes_urlencode_gives(data: dict[str, object]) -> None:
    assert form_body(data) == urlencode(data, doseq=True).encode()


def test_the_form_body_escapes_what_quote_plus_escapes() -> None:
    data = {"Body": "Corte de energía ⚡ 50% + más: a&b=c/d?e~f_g.h-i", "To": "+15035550100"}
    assert form_body(data) == urlencode(data, doseq=True).encode()
    assert form_body(data).endswith(b"&To=%2B15035550100")
