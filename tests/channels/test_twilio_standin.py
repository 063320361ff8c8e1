"""The stand-in, driven by the official twilio client over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from gridjourney.channels.standin_server import StandInPortBusy
from gridjourney.channels.twilio_standin import TwilioStandIn, form_fields
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


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode(), 201),  # any case
        ("Basic " + base64.b64encode(f"{ACCOUNT_SID}:wrong".encode()).decode(), 401),
        ("Basic é" + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode(), 401),
    ],
)
async def test_credentials_are_read_however_the_header_is_written(
    standin: TwilioStandIn, authorization: str, status: int
) -> None:
    async with httpx.AsyncClient(base_url=standin.base_url) as http:
        answer = await http.post(
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            data={"To": "+15035550100", "From": "+15005550006", "Body": "hi"},
            headers={b"Authorization": authorization.encode("latin-1")},
        )
    assert answer.status_code == status


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


async def test_the_list_filters_by_to_from_and_date_sent(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    for to, from_ in (("+15035550100", "+15005550006"), ("+15035550199", "+15005550006")):
        await asyncio.to_thread(client.messages.create, to=to, from_=from_, body=f"hello {to}")
    await asyncio.to_thread(client.messages.create, to="+15035550100", from_="+15005550007", body="other")
    sent = standin.received[0].date_created

    mine = await asyncio.to_thread(client.messages.list, to="+15035550100", from_="+15005550006")
    assert [m.body for m in mine] == ["hello +15035550100"]
    since = await asyncio.to_thread(client.messages.list, to="+15035550100", date_sent_after=sent)
    assert sorted(m.body for m in since) == ["hello +15035550100", "other"]
    later = await asyncio.to_thread(
        client.messages.list, to="+15035550100", date_sent_after=sent + timedelta(minutes=1)
    )
    assert later == []
    that_day = await asyncio.to_thread(client.messages.list, date_sent=sent)
    # the messages sent on that (UTC) day: all three, unless the test ran across midnight
    expected = {
        m.body for m in standin.received if m.date_sent is not None and m.date_sent.date() == sent.date()
    }
    assert {m.body for m in that_day} == expected and "hello +15035550100" in expected
    assert that_day[-1].date_sent == sent  # the stand-in sends at once; the list is newest first


async def test_the_list_pages_like_twilio(standin: TwilioStandIn) -> None:
    client = official_client(standin)
    for number in range(5):
        await asyncio.to_thread(
            client.messages.create, to="+15035550100", from_="+15005550006", body=f"m{number}"
        )
    listed = await asyncio.to_thread(client.messages.list, to="+15035550100", page_size=2)
    assert [m.body for m in listed] == ["m4", "m3", "m2", "m1", "m0"]  # newest first, over 3 pages


async def test_a_malformed_date_filter_is_a_400(standin: TwilioStandIn) -> None:
    async with httpx.AsyncClient(base_url=standin.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as http:
        answer = await http.get(
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", params={"DateSent>": "yesterday"}
        )
    assert answer.status_code == 400
    assert answer.json()["code"] == 20001


async def test_lookups_can_be_made_unavailable(standin: TwilioStandIn) -> None:
    standin.lookups_unavailable = True
    with pytest.raises(TwilioException, match="503"):
        await asyncio.to_thread(official_client(standin).messages.list, to="+15035550100")


async def test_a_queued_message_has_no_date_sent_and_escapes_date_filters(standin: TwilioStandIn) -> None:
    standin.sends_at_once = False
    client = official_client(standin)
    await asyncio.to_thread(client.messages.create, to="+15035550100", from_="+15005550006", body="queued")
    [listed] = await asyncio.to_thread(client.messages.list, to="+15035550100")
    assert listed.date_sent is None
    after = standin.received[0].date_created - timedelta(days=1)
    assert await asyncio.to_thread(client.messages.list, to="+15035550100", date_sent_after=after) == []


def first_values(text: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(text).items()}


# Bodies made mostly of the characters that matter to the parse: separators, escapes, blanks.
@given(st.text(st.sampled_from("ab=&%+2B0Fé ")))
def test_form_fields_read_any_text_as_parse_qs_does(text: str) -> None:
    assert form_fields(text) == first_values(text)


@given(st.lists(st.tuples(st.text(), st.text())))
def test_form_fields_read_encoded_forms_as_parse_qs_does(pairs: list[tuple[str, str]]) -> None:
    text = urlencode(pairs)
    assert form_fields(text) == first_values(text)


def test_form_fields_keep_the_first_value_and_leave_out_blank_ones() -> None:
    fields = form_fields("To=%2B15035550100&Body=Power+out+50%25&To=%2B1999&From=&StatusCallback")
    assert fields == {"To": "+15035550100", "Body": "Power out 50%"}
