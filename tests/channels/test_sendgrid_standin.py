"""The SendGrid stand-in, driven by the official sendgrid client over real HTTP; its Event Webhook
posts verified with the client library's own helper."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import CustomArg, Header, Mail

from gridjourney.channels.sendgrid_standin import SendGridStandIn, substitute
from gridjourney.channels.sendgrid_standin_checks import parse_activity_query
from gridjourney.channels.standin_server import StandInPortBusy
from gridjourney.inbound.sendgrid_keys import SIGNATURE_HEADER, TIMESTAMP_HEADER, public_key_text
from tests.channels.sendgrid_fixtures import API_KEY, receiver


@pytest.fixture
async def standin() -> AsyncIterator[SendGridStandIn]:
    async with SendGridStandIn("127.0.0.1", 0, api_key=API_KEY) as running:
        yield running


def client(standin: SendGridStandIn, key: str = API_KEY) -> SendGridAPIClient:
    return SendGridAPIClient(key, host=standin.base_url)


def mail(to: str = "ana@example.org", key: str = "k1") -> Mail:
    message = Mail(
        from_email="alerts@gridjourney.example",
        to_emails=to,
        subject="Your bill",
        plain_text_content="Your bill is $182.",
        html_content="<p>Your bill is $182.</p>",
    )
    message.header = [Header("List-Unsubscribe", "<https://gj.example/u/t>")]
    message.custom_arg = [CustomArg("gridjourney_key", key), CustomArg("gridjourney_customer", "c1")]
    return message


async def test_mail_send_is_accepted_and_recorded(standin: SendGridStandIn) -> None:
    response = await asyncio.to_thread(client(standin).send, mail())
    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    [received] = standin.received
    assert received.message_id == message_id and received.msg_id.startswith(message_id + ".")
    assert (received.to, received.from_email, received.subject) == (
        "ana@example.org",
        "alerts@gridjourney.example",
        "Your bill",
    )
    assert (received.text, received.html) == ("Your bill is $182.", "<p>Your bill is $182.</p>")
    assert received.headers == {"List-Unsubscribe": "<https://gj.example/u/t>"}
    assert received.custom_args == {"gridjourney_key": "k1", "gridjourney_customer": "c1"}


async def test_a_wrong_key_gets_401(standin: SendGridStandIn) -> None:
    with pytest.raises(UnauthorizedError):
        await asyncio.to_thread(client(standin, "SG.wrong").send, mail())
    assert standin.received == []


async def test_an_invalid_recipient_is_refused_naming_the_field(standin: SendGridStandIn) -> None:
    body = {**mail().get(), "personalizations": [{"to": [{"email": "not-an-address"}]}]}
    with pytest.raises(BadRequestsError) as raised:
        await asyncio.to_thread(client(standin).client.mail.send.post, request_body=body)
    [error] = json.loads(raised.value.body)["errors"]
    assert error == {
        "message": "Does not contain a valid address.",
        "field": "personalizations.0.to.0.email",
        "help": None,
    }
    assert standin.received == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"content": [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]},
            "content",
        ),
        ({"headers": {"Subject": "sneaky"}}, "headers"),
        ({"subject": ""}, "subject"),
        ({"from": {"email": "nobody"}}, "from.email"),
        ({"custom_args": {"n": 1}}, "custom_args"),
        ({"personalizations": []}, "personalizations"),
        (
            {
                "personalizations": [
                    {"to": [{"email": "a@example.org"}], "substitutions": {"-x-": "y" * 9_998}}
                ]
            },
            "personalizations.0.substitutions",
        ),
    ],
)
async def test_bodies_sendgrid_refuses_are_refused(
    standin: SendGridStandIn, change: dict[str, Any], field: str
) -> None:
    body = {**mail().get(), **change}
    with pytest.raises(BadRequestsError) as raised:
        await asyncio.to_thread(client(standin).client.mail.send.post, request_body=body)
    assert json.loads(raised.value.body)["errors"][0]["field"] == field


async def test_the_activity_api_finds_messages_by_custom_arg_and_time(standin: SendGridStandIn) -> None:
    for key in ("k1", "k2"):
        await asyncio.to_thread(client(standin).send, mail(key=key))
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def search(query: str) -> list[dict[str, Any]]:
        response = await asyncio.to_thread(
            client(standin).client.messages.get, query_params={"query": query, "limit": 10}
        )
        found: list[dict[str, Any]] = json.loads(response.body)["messages"]
        return found

    window = f'last_event_time BETWEEN TIMESTAMP "{since}" AND TIMESTAMP "{until}"'
    [found] = await search(f"(unique_args['gridjourney_key']=\"k2\") AND {window}")
    assert found["msg_id"] == standin.received[1].msg_id
    assert (found["to_email"], found["status"]) == ("ana@example.org", "delivered")
    assert await search("unique_args['gridjourney_key']=\"k3\"") == []
    past = 'last_event_time BETWEEN TIMESTAMP "2020-01-01T00:00:00Z" AND TIMESTAMP "2020-01-02T00:00:00Z"'
    assert await search(f"unique_args['gridjourney_key']=\"k1\" AND {past}") == []
    with pytest.raises(BadRequestsError):
        await search("gridjourney_key = k1")


def test_activity_queries_parse_as_sendgrid_writes_them() -> None:
    assert len(parse_activity_query('to_email="a@b.org" AND status="delivered"')) == 2
    with pytest.raises(ValueError, match="expected AND"):
        parse_activity_query('to_email="a@b.org" OR status="delivered"')


async def test_events_are_posted_signed_as_sendgrid_signs_them() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    async with (
        receiver() as endpoint,
        SendGridStandIn(api_key=API_KEY, webhook_url=endpoint.url, signing_key=key) as standin,
    ):
        endpoint.answers = [503]  # the first post fails: the stand-in retries, signed afresh
        await asyncio.to_thread(client(standin).send, mail(to="ana@example.org", key="k1"))
        await asyncio.to_thread(client(standin).send, mail(to="bounce@example.org", key="k2"))
        await asyncio.to_thread(client(standin).send, mail(to="spam@example.org", key="k3"))
        await standin.webhooks_done()
    verifier = EventWebhook(public_key_text(key))
    rows_by_key: dict[str, list[str]] = {}
    assert len(endpoint.posts) == 4  # three batches, one of them posted twice
    for post in endpoint.posts[1:]:  # the first post was answered 503 and sent again
        payload = post.body.decode()
        timestamp = post.headers[TIMESTAMP_HEADER.lower()]
        assert verifier.verify_signature(payload, post.headers[SIGNATURE_HEADER.lower()], timestamp)
        assert not verifier.verify_signature(payload + " ", post.headers[SIGNATURE_HEADER.lower()], timestamp)
        for row in json.loads(payload):
            assert row["sg_message_id"].startswith(row["smtp-id"][1:23])
            rows_by_key.setdefault(row["gridjourney_key"], []).append(row["event"])
    assert rows_by_key == {
        "k1": ["processed", "delivered"],
        "k2": ["processed", "bounce"],
        "k3": ["processed", "delivered", "spamreport"],
    }
    assert [email.status for email in standin.received] == ["delivered", "not_delivered", "delivered"]


async def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StandInPortBusy, match="GRIDJOURNEY_EMAIL_STANDIN_PORT"):
            await SendGridStandIn("127.0.0.1", port, api_key=API_KEY).start()


async def test_every_accepted_email_can_be_read_whole(standin: SendGridStandIn) -> None:
    await asyncio.to_thread(client(standin).send, mail(to="ana@example.org", key="k1"))
    await asyncio.to_thread(client(standin).send, mail(to="bounce@example.org", key="k2"))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=standin.base_url, headers=headers) as http:
        everything = (await http.get("/standin/emails")).json()["emails"]
        ana = (await http.get("/standin/emails", params={"to": "ana@example.org"})).json()["emails"]
        denied = await http.get("/standin/emails", headers={"Authorization": "Bearer SG.wrong"})
    assert [(e["to"], e["status"]) for e in everything] == [
        ("bounce@example.org", "not_delivered"),
        ("ana@example.org", "delivered"),
    ]
    assert [(e["subject"], e["html"], e["custom_args"]["gridjourney_key"]) for e in ana] == [
        ("Your bill", "<p>Your bill is $182.</p>", "k1")
    ]
    assert denied.status_code == 401


def test_substitutions_replace_every_tag_once_without_searching_the_values() -> None:
    tags = {"-name-": "Ana -city-", "-city-": "Lyon", "-n-": "short"}
    assert (
        substitute("Dear -name- of -city-, -n- -name-", tags) == "Dear Ana -city- of Lyon, short Ana -city-"
    )
    assert substitute("nothing to do", {}) == "nothing to do"
