"""POST /webhooks/sendgrid/events: signed with a real ECDSA P-256 key as SendGrid signs (the embedded
key under `home`), verified with the client library's helper; forged, unsigned, stale, tampered and
replayed requests get 403 and record nothing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.email import EmailIdentity, SendGridEmailSender
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.config import Settings
from gridjourney.db.tables import webhook_receipts
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound.sendgrid_keys import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    embedded_signing_key,
    sign_payload,
)
from gridjourney.inbound.unsubscribe import unsubscribe_links
from gridjourney.projections.runner import ProjectionRunner

URL = "/webhooks/sendgrid/events"
API_KEY = "SG.webhook-test"


def row(event: str, sg_event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": "ana@example.org",
        "timestamp": int(time.time()) - 30,
        "event": event,
        "sg_event_id": sg_event_id,
        "sg_message_id": "abcDEF123.filterdrecv-5645d9c87f-abcde-1-0",
        "gridjourney_key": "hb:c1:1",
        "gridjourney_customer": "c1",
        "gridjourney_purpose": "informational",
        **extra,
    }


BATCH = [
    row("processed", "e0"),
    row("delivered", "e1", response="250 OK"),
    row("open", "e2"),
    row("click", "e3", url="https://cascadepower.example/save"),
    row("bounce", "e4", type="bounce", reason="550 5.1.1 no such user", email="gone@example.org"),
    row("bounce", "e5", type="blocked", reason="550 5.7.1 blocked", email="blocked@example.org"),
    row("dropped", "e6", reason="Bounced Address"),
    row("spamreport", "e7", email="angry@example.org"),
    {"email": "other@example.org", "timestamp": 1, "event": "delivered", "sg_event_id": "x1"},  # not ours
]


def signed(
    rows: Any, key: ec.EllipticCurvePrivateKey, *, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(rows).encode()
    timestamp = str(at if at is not None else int(time.time()))
    return payload, {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(key, timestamp, payload),
        TIMESTAMP_HEADER: timestamp,
    }


@pytest.fixture
def key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The embedded stack's key pair: the stand-in signs with it, the API verifies with its public half."""
    return embedded_signing_key(settings.home)


async def recorded(app: FastAPI) -> list[tuple[str, dict[str, Any]]]:
    store: EventStore = app.state.store
    return [(event.type, event.payload) for event in await store.read_customer("c1")]


async def receipts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(webhook_receipts))).scalar_one())


async def test_a_signed_batch_becomes_message_events_and_suppressions(
    client: httpx.AsyncClient, app: FastAPI, key: ec.EllipticCurvePrivateKey
) -> None:
    body, headers = signed(BATCH, key)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 9, "duplicates": 0, "skipped": 2}
    events = await recorded(app)
    assert [event_type for event_type, _ in events] == [
        "message.delivered",
        "message.opened",
        "message.clicked",
        "message.bounced",
        "suppression.added",
        "message.bounced",
        "message.dropped",
        "message.spam_reported",
        "suppression.added",
    ]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event_type, payload in events:
        by_type.setdefault(event_type, []).append(payload)
    assert by_type["message.delivered"][0] == {
        "idempotency_key": "hb:c1:1",
        "channel": "email",
        "provider_message_id": "abcDEF123",
        "journey_id": None,
        "instance_id": None,
        "step_id": None,
        "template": None,
        "locale": None,
    }
    assert [(p["bounce_type"], p["reason"]) for p in by_type["message.bounced"]] == [
        ("hard", "550 5.1.1 no such user"),
        ("blocked", "550 5.7.1 blocked"),
    ]
    assert by_type["message.clicked"][0]["url"] == "https://cascadepower.example/save"
    # A hard bounce and a spam report suppress the address; a block does not (it is about the sender).
    assert [(p["address"], p["reason"], p["source"]) for p in by_type["suppression.added"]] == [
        ("gone@example.org", "hard_bounce", "sendgrid"),
        ("angry@example.org", "spam_report", "sendgrid"),
    ]


async def test_the_same_rows_sent_again_record_nothing_new(
    client: httpx.AsyncClient, app: FastAPI, key: ec.EllipticCurvePrivateKey
) -> None:
    body, headers = signed(BATCH, key)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    # SendGrid retrying a batch signs it again: a new request, the same sg_event_ids.
    body, headers = signed(BATCH, key, at=int(time.time()) + 1)
    again = await client.post(URL, content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == {"recorded": 0, "duplicates": 9, "skipped": 2}
    assert len(await recorded(app)) == 9


async def test_a_replayed_request_is_refused_and_records_nothing(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, key: ec.EllipticCurvePrivateKey
) -> None:
    body, headers = signed([row("delivered", "e1")], key)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    replay = await client.post(URL, content=body, headers=headers)
    assert replay.status_code == 403
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["errors"] == [
        {"field": SIGNATURE_HEADER, "reason": "this signed request was accepted before: refused as a replay"}
    ]
    assert len(await recorded(app)) == 1
    assert await receipts(engine) == 1


@pytest.mark.parametrize(("before", "after"), [("", "!"), (" ", ""), ("", "==")])
async def test_a_replay_with_the_signature_spelled_otherwise_is_refused_and_records_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    key: ec.EllipticCurvePrivateKey,
    before: str,
    after: str,
) -> None:
    """Base64 decoding skips stray characters, so one signature has many spellings that verify: the
    receipt is of what was signed (timestamp and body), not of how the header spells the signature."""
    body, headers = signed([row("delivered", "e1")], key)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    replay = await client.post(
        URL, content=body, headers={**headers, SIGNATURE_HEADER: before + headers[SIGNATURE_HEADER] + after}
    )
    assert replay.status_code == 403
    assert replay.json()["errors"] == [
        {"field": SIGNATURE_HEADER, "reason": "this signed request was accepted before: refused as a replay"}
    ]
    assert len(await recorded(app)) == 1
    assert await receipts(engine) == 1


@pytest.mark.parametrize(
    "case", ["forged", "unsigned", "no timestamp", "stale", "future", "tampered", "garbage"]
)
async def test_requests_not_provably_from_sendgrid_get_403_and_record_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    settings: Settings,
    key: ec.EllipticCurvePrivateKey,
    case: str,
) -> None:
    rows = [row("delivered", "e1"), row("spamreport", "e2")]
    max_age = int(settings.webhook_max_age.total_seconds())
    if case == "forged":
        body, headers = signed(rows, ec.generate_private_key(ec.SECP256R1()))
    elif case == "stale":
        body, headers = signed(rows, key, at=int(time.time()) - max_age - 5)
    elif case == "future":
        body, headers = signed(rows, key, at=int(time.time()) + max_age + 5)
    else:
        body, headers = signed(rows, key)
        if case == "unsigned":
            del headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
        elif case == "no timestamp":
            del headers[TIMESTAMP_HEADER]
        elif case == "tampered":
            body = body.replace(b"spamreport", b"delivered ")
        elif case == "garbage":
            headers[SIGNATURE_HEADER] = "not base64 at all!"
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
    assert await recorded(app) == []
    assert await receipts(engine) == 0


async def test_a_signed_body_that_is_not_a_list_is_a_400(
    client: httpx.AsyncClient, app: FastAPI, key: ec.EllipticCurvePrivateKey
) -> None:
    body, headers = signed({"event": "delivered"}, key)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "body", "reason": "not a JSON array"}]
    assert await recorded(app) == []


async def test_the_standin_posts_signed_events_the_api_accepts(
    app: FastAPI, settings: Settings, key: ec.EllipticCurvePrivateKey
) -> None:
    """End to end: the sender → the SendGrid stand-in → its signed Event Webhook post → the API."""
    async with SendGridStandIn(
        api_key=API_KEY,
        webhook_url=f"http://api.test{URL}",
        signing_key=key,
        webhook_transport=httpx.ASGITransport(app=app),
    ) as standin:
        sender = SendGridEmailSender(
            api_key=API_KEY,
            identity=EmailIdentity("alerts@gridjourney.example", "Gridjourney Energy"),
            links=unsubscribe_links(settings),
            base_url=standin.base_url,
        )
        message = OutgoingMessage(
            idempotency_key="welcome:c1",
            channel="email",
            customer_id="c1",
            purpose="informational",
            recipient="bounce@example.org",
            subject="Welcome",
            body="Welcome aboard.",
        )
        receipt = await sender.send(message)
        await standin.webhooks_done()
    assert [status for status, _ in standin.posted] == [200]
    events = await recorded(app)
    assert [event_type for event_type, _ in events] == ["message.bounced", "suppression.added"]
    bounced, suppressed = (payload for _, payload in events)
    assert (bounced["idempotency_key"], bounced["provider_message_id"]) == (
        "welcome:c1",
        receipt.provider_message_id,
    )
    assert (suppressed["address"], suppressed["reason"]) == ("bounce@example.org", "hard_bounce")


async def test_a_suppression_names_the_address_as_the_customer_record_spells_it(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, key: ec.EllipticCurvePrivateKey
) -> None:
    store: EventStore = app.state.store
    created = NewEvent(
        event_id=uuid.uuid4(),
        type="customer.created",
        customer_id="c1",
        occurred_at=datetime.now(UTC),
        source="crm",
        payload={"name": "Ana", "email": "Ana.Smith@Example.org"},
    )
    await store.append([created])
    await ProjectionRunner(engine).catch_up()
    # SendGrid reports the address in lower case; the eligibility check matches it exactly.
    body, headers = signed([row("spamreport", "s1", email="ana.smith@example.org")], key)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    suppression = [
        payload for event_type, payload in await recorded(app) if event_type == "suppression.added"
    ]
    assert [p["address"] for p in suppression] == ["Ana.Smith@example.org"]
