"""/u/{token}: the unsubscribe link an email carries (List-Unsubscribe and the footer) works without a
login, records the revocation for that purpose and channel once, and refuses altered tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.email import EmailIdentity, SendGridEmailSender
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.config import Settings, public_base_url
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound.unsubscribe import UnsubscribeLinks, link_secrets, unsubscribe_links
from gridjourney.projections.runner import ProjectionRunner

API_KEY = "SG.unsubscribe-test"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def standin() -> AsyncIterator[SendGridStandIn]:
    async with SendGridStandIn(api_key=API_KEY) as running:
        yield running


async def emailed_link(settings: Settings, standin: SendGridStandIn, purpose: str = "marketing") -> str:
    """The path of the List-Unsubscribe https link of an email the sender really sent."""
    sender = SendGridEmailSender(
        api_key=API_KEY,
        identity=EmailIdentity("alerts@gridjourney.example", "Gridjourney Energy"),
        links=unsubscribe_links(settings),
        base_url=standin.base_url,
    )
    message = OutgoingMessage(
        idempotency_key=f"k-{purpose}",
        channel="email",
        customer_id="c1",
        purpose=purpose,
        recipient="ana@example.org",
        subject="Offers",
        body="Save more.",
    )
    await sender.send(message)
    header = standin.received[-1].headers["List-Unsubscribe"]
    url = header.removeprefix("<").removesuffix(">")
    assert url.startswith(public_base_url(settings) + "/u/")
    assert standin.received[-1].text is not None and url in standin.received[-1].text  # the footer link
    return url.removeprefix(public_base_url(settings))


async def consents(app: FastAPI) -> list[dict[str, Any]]:
    store: EventStore = app.state.store
    return [
        (e.payload | {"source": e.source})
        for e in await store.read_customer("c1")
        if e.type == "consent.changed"
    ]


async def test_the_one_click_post_revokes_that_purpose_once(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, standin: SendGridStandIn
) -> None:
    path = await emailed_link(settings, standin, "marketing")
    page = await client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text and "offers and news by email" in page.text
    assert await consents(app) == []  # looking at the page changes nothing (link scanners)

    # What a mail client sends for List-Unsubscribe-Post (RFC 8058), with no login.
    response = await client.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200
    assert "You will no longer receive offers and news by email" in response.text
    revoked = {
        "channel": "email",
        "purpose": "marketing",
        "granted": False,
        "method": "unsubscribe_link",
        "source": "gridjourney.unsubscribe",
    }
    assert await consents(app) == [revoked]

    again = await client.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 200
    assert await consents(app) == [revoked]  # idempotent: nothing new


async def test_clicks_at_the_same_moment_record_one_revocation(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, standin: SendGridStandIn
) -> None:
    path = await emailed_link(settings, standin, "informational")
    answers = await asyncio.gather(*(client.post(path) for _ in range(5)))
    assert [answer.status_code for answer in answers] == [200] * 5
    assert [c["purpose"] for c in await consents(app)] == ["informational"]


async def test_after_consent_is_given_again_the_link_revokes_it_again(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, standin: SendGridStandIn
) -> None:
    path = await emailed_link(settings, standin, "marketing")
    assert (await client.post(path)).status_code == 200
    store: EventStore = app.state.store
    regranted = NewEvent(
        event_id=uuid.uuid4(),
        type="consent.changed",
        customer_id="c1",
        occurred_at=datetime.now(UTC),
        source="web",
        payload={"channel": "email", "purpose": "marketing", "granted": True, "method": "web"},
    )
    await store.append([regranted])
    assert (await client.post(path)).status_code == 200
    assert [c["granted"] for c in await consents(app)] == [False, True, False]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_altered_or_foreign_token_is_refused_and_records_nothing(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, standin: SendGridStandIn, method: str
) -> None:
    path = await emailed_link(settings, standin)
    token = path.removeprefix("/u/")
    payload, signature = token.split(".")
    other_customer = (
        UnsubscribeLinks(link_secrets(settings), "x").token("c2", "email", "marketing").split(".")[0]
    )
    foreign = UnsubscribeLinks([b"another deployment"], "x").token("c1", "email", "marketing")
    for bad in (
        f"{payload}.{signature[:-2]}AA",  # signature altered
        f"{other_customer}.{signature}",  # content swapped under the old signature
        foreign,  # signed with another secret
        "not-a-token",
    ):
        response = await client.request(method, f"/u/{bad}")
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["field"] == "token"
    assert await consents(app) == []


async def test_the_input_guard_still_applies(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post("/u/abc%00def")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path"
    assert await consents(app) == []


async def test_the_pages_speak_the_customers_language(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, settings: Settings, standin: SendGridStandIn
) -> None:
    store: EventStore = app.state.store
    created = NewEvent(
        event_id=uuid.uuid4(),
        type="customer.created",
        customer_id="c1",
        occurred_at=datetime.now(UTC),
        source="crm",
        payload={"name": "Ana", "email": "ana@example.org", "locale": "es"},
    )
    await store.append([created])
    await ProjectionRunner(engine).catch_up()
    path = await emailed_link(settings, standin, "marketing")
    page = await client.get(path)
    assert (
        '<html lang="es">' in page.text and "¿Dejar de recibir ofertas y novedades por correo?" in page.text
    )
    done = await client.post(path)
    assert "Ya no recibirá ofertas y novedades por correo." in done.text
