"""The stand-in, driven by the official twilio client over real HTTP."""

from __future__ import annotations

import asyncio
import socket

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from gridjourney.channels.twilio_standin import StandInPortBusy, TwilioStandIn
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN


def official_client(standin: TwilioStandIn, token: str = AUTH_TOKEN) -> Client:
    client = Client(ACCOUNT_SID, token, environment={"TWILIO_ACCOUNT_SID": ACCOUNT_SID})
    client.api.base_url = standin.base_url
    return client


async def test_a_message_arrives_with_a_twilio_shaped_resource(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    created = await asyncio.to_thread(
        client.messages.create,
        to="+15035550100",
        from_="+15005550006",
        body="Your projected bill is $182.",
        status_callback="https://example.org/webhooks/twilio/status",
    )
    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert created.status == "queued"
    assert created.num_segments == "1"
    assert created.to == "+15035550100"
    assert created.from_ == "+15005550006"
    assert created.direction == "outbound-api"
    assert created.date_created is not None  # the client parsed Twilio's RFC 2822 date

    [received] = standin.received
    assert (received.sid, received.to, received.body) == (
        created.sid,
        "+15035550100",
        "Your projected bill is $182.",
    )
    assert received.status_callback == "https://example.org/webhooks/twilio/status"

    fetched = await asyncio.to_thread(client.messages(created.sid).fetch)
    assert fetched.body == "Your projected bill is $182."
    listed = await asyncio.to_thread(client.messages.list, to="+15035550100")
    assert [m.sid for m in listed] == [created.sid]


async def test_an_invalid_number_is_refused_with_code_21211(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages.create, to="555-0100", from_="+15005550006", body="hi")
    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert "555-0100" in raised.value.msg
    assert standin.received == []


async def test_magic_test_numbers_fail_like_twilio_test_credentials(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages.create, to="+15005550009", from_="+15005550006", body="hi")
    assert raised.value.code == 21614


async def test_wrong_credentials_get_401(standin: TwilioStandIn) -> None:
    client = official_client(standin, token="not-the-token")
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages.create, to="+15035550100", from_="+15005550006", body="hi")
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert standin.received == []


async def test_missing_body_is_refused_with_code_21602(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages.create, to="+15035550100", from_="+15005550006")
    assert raised.value.code == 21602


async def test_unknown_message_is_404(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages("SM" + "0" * 32).fetch)
    assert (raised.value.status, raised.value.code) == (404, 20404)


async def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        standin = TwilioStandIn("127.0.0.1", port, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        with pytest.raises(
            StandInPortBusy, match=f"port {port} .* already in use.*GRIDJOURNEY_SMS_STANDIN_PORT"
        ):
            await standin.start()


async def test_stop_frees_the_port_for_a_restart() -> None:
    first = TwilioStandIn("127.0.0.1", 0, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    await first.start()
    port = first.port
    await first.stop()
    async with TwilioStandIn("127.0.0.1", port, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as second:
        assert second.port == port
