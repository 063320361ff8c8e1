"""POST / DELETE /v1/customers/{id}/push-subscriptions: recorded as push.subscribed / push.unsubscribed,
refused with 422 naming the field when a push service could not use the subscription."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.push import WebPushSender, vapid_signer
from gridjourney.channels.push_standin import PushStandIn, new_subscriber
from gridjourney.config import Settings
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.push_subscriptions import subscriptions_of
from gridjourney.projections.runner import ProjectionRunner
from tests.api.conftest import KeyFactory

PUSH_SERVICE = "https://push.example.net"
PATH = "/v1/customers/C-1/push-subscriptions"


def browser_subscription() -> dict[str, Any]:
    """What PushSubscription.toJSON() gives: fresh, valid keys each time."""
    return new_subscriber(PUSH_SERVICE).subscription()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def add_customer(engine: AsyncEngine, customer_id: str = "C-1") -> None:
    created = NewEvent(
        event_id=uuid.uuid4(),
        type="customer.created",
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="crm",
        payload={"name": "Ana Ruiz"},
    )
    await EventStore(engine).append([created])
    await ProjectionRunner(engine).catch_up()


@pytest.fixture
async def writer(make_key: KeyFactory) -> dict[str, str]:
    return await make_key("events:write")


async def test_a_subscription_is_recorded_and_projected(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()

    response = await client.post(PATH, json=subscription, headers=writer)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["customer_id"] == "C-1" and answer["endpoint"] == subscription["endpoint"]
    [event] = [e for e in await EventStore(engine).read_customer("C-1") if e.type == "push.subscribed"]
    assert (event.event_id, event.position) == (uuid.UUID(answer["event_id"]), answer["position"])
    assert event.payload == {"endpoint": subscription["endpoint"], **subscription["keys"]}
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        [row] = await subscriptions_of(conn, "C-1")
    assert row.subscription_info() == {"endpoint": subscription["endpoint"], "keys": subscription["keys"]}

    # The page that registers on every visit: the same subscription again records nothing.
    again = await client.post(PATH, json=subscription, headers=writer)
    assert again.status_code == 200, again.text
    assert again.json()["event_id"] is None
    assert len([e for e in await EventStore(engine).read_customer("C-1") if e.type == "push.subscribed"]) == 1


def _without_keys(s: dict[str, Any]) -> None:
    del s["keys"]


def _key(name: str, value: str) -> Any:
    def change(s: dict[str, Any]) -> None:
        s["keys"][name] = value

    return change


def _endpoint(value: str) -> Any:
    def change(s: dict[str, Any]) -> None:
        s["endpoint"] = value

    return change


def _expired(s: dict[str, Any]) -> None:
    s["expirationTime"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)


def _drop_auth(s: dict[str, Any]) -> None:
    del s["keys"]["auth"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (_without_keys, "keys", "Field required"),
        (_drop_auth, "keys.auth", "Field required"),
        (_key("p256dh", "not base64!"), "keys.p256dh", "base64url"),
        (_key("p256dh", b64url(b"\x04" + b"\x01" * 64)), "keys.p256dh", "not a point on the P-256 curve"),
        (_key("p256dh", b64url(b"\x04" + b"\x01" * 31)), "keys.p256dh", "65 bytes"),
        (_key("auth", b64url(b"\x00" * 8)), "keys.auth", "16-byte"),
        (_endpoint("http://push.example.net/wpush/1"), "endpoint", "https"),
        (_endpoint("ftp://push.example.net/1"), "endpoint", "https"),
        (_endpoint("HTTPS://push.example.net/1"), "endpoint", "https"),  # the log stores https:// only
        (_endpoint("https://user:secret@push.example.net/1"), "endpoint", "no credentials"),
        (_endpoint("push.example.net/1"), "endpoint", "host"),
        (_expired, "expirationTime", "expired"),
    ],
)
async def test_a_subscription_a_push_service_could_not_use_is_422_naming_the_field(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    writer: dict[str, str],
    change: Any,
    field: str,
    reason: str,
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    change(subscription)

    response = await client.post(PATH, json=subscription, headers=writer)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == field and reason in error["reason"], error
    assert [e.type for e in await EventStore(engine).read_customer("C-1")] == ["customer.created"]


@pytest.fixture
async def local_client(
    settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the embedded stack runs it: push endpoints on this machine allowed (the stand-in)."""
    app = create_app(settings.model_copy(update={"push_local_endpoints": True}), engine, temporal_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


LOCAL_ENDPOINTS = [
    "http://127.0.0.1:8091/wpush/1",
    "https://127.0.0.1/wpush/1",
    "https://127.1/wpush/1",  # a resolver reads it as 127.0.0.1
    "https://2130706433/wpush/1",  # and this too
    "https://localhost/wpush/1",
    "https://api.localhost/wpush/1",
    "https://[::1]/wpush/1",
    "https://[::ffff:10.0.0.5]/wpush/1",
    "https://10.0.0.5/wpush/1",
    "https://172.16.3.4/wpush/1",
    "https://192.168.1.1/wpush/1",
    "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service: link-local
    "https://[fe80::1]/wpush/1",
    "https://[fd00::1]/wpush/1",
    "https://0.0.0.0/wpush/1",
    "https://240.0.0.1/wpush/1",  # reserved
]


@pytest.mark.parametrize("endpoint", LOCAL_ENDPOINTS)
async def test_an_endpoint_on_this_machine_or_a_private_network_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str], endpoint: str
) -> None:
    """The sender posts to the endpoint from inside our network: it must not be sent anywhere there."""
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = endpoint

    response = await client.post(PATH, json=subscription, headers=writer)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == "endpoint", error
    assert ("https" if endpoint.startswith("http:") else "this machine or a private network") in error[
        "reason"
    ]
    assert [e.type for e in await EventStore(engine).read_customer("C-1")] == ["customer.created"]


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8091/wpush/1", "http://localhost:8091/wpush/1", "https://10.0.0.5/wpush/1"],
)
async def test_the_stand_in_setting_allows_endpoints_on_this_machine(
    local_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str], endpoint: str
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = endpoint
    response = await local_client.post(PATH, json=subscription, headers=writer)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "endpoint", ["http://push.example.net/wpush/1", "http://10.0.0.5/wpush/1", "http://[fe80::1]/wpush/1"]
)
async def test_plain_http_off_loopback_is_refused_even_with_the_stand_in_setting(
    local_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str], endpoint: str
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = endpoint
    response = await local_client.post(PATH, json=subscription, headers=writer)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "endpoint" and "https" in error["reason"], error


async def test_unknown_and_erased_customers_and_scopes(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    writer: dict[str, str],
    admin: dict[str, str],
    make_key: KeyFactory,
) -> None:
    unknown = await client.post(PATH, json=browser_subscription(), headers=writer)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["errors"] == [{"field": "customer_id", "reason": "unknown customer"}]

    await add_customer(engine)
    reader = await make_key("journeys:read")
    assert (await client.post(PATH, json=browser_subscription(), headers=reader)).status_code == 403
    assert (await client.post(PATH, json=browser_subscription())).status_code == 401
    bad_id = await client.post(
        "/v1/customers/%20bad/push-subscriptions", json=browser_subscription(), headers=writer
    )
    assert bad_id.status_code == 422, bad_id.text

    assert (await client.delete("/v1/customers/C-1", headers=admin)).status_code == 200
    erased = await client.post(PATH, json=browser_subscription(), headers=writer)
    assert erased.status_code == 410, erased.text
    assert erased.json()["erased"] is True
    assert "push.subscribed" not in [e.type for e in await EventStore(engine).read_customer("C-1")]


async def test_delete_records_push_unsubscribed_and_the_row_goes(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    await add_customer(engine, "C-2")
    phone, laptop = browser_subscription(), browser_subscription()
    for subscription in (phone, laptop):
        assert (await client.post(PATH, json=subscription, headers=writer)).status_code == 201
    await ProjectionRunner(engine).catch_up()

    others = await client.delete(
        "/v1/customers/C-2/push-subscriptions", params={"endpoint": phone["endpoint"]}, headers=writer
    )
    assert others.status_code == 404, others.text
    assert others.json()["errors"] == [{"field": "endpoint", "reason": "unknown push subscription"}]

    response = await client.delete(PATH, params={"endpoint": phone["endpoint"]}, headers=writer)

    assert response.status_code == 200, response.text
    event = await EventStore(engine).get(uuid.UUID(response.json()["event_id"]))
    assert event is not None and event.type == "push.unsubscribed"
    assert event.payload["endpoint"] == phone["endpoint"]
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        assert [s.endpoint for s in await subscriptions_of(conn, "C-1")] == [laptop["endpoint"]]
    gone = await client.delete(PATH, params={"endpoint": phone["endpoint"]}, headers=writer)
    assert gone.status_code == 404


async def test_a_browser_subscribed_with_the_served_key_receives_what_the_sender_signs(
    local_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str], settings: Settings
) -> None:
    client = local_client  # the push stand-in listens on 127.0.0.1
    await add_customer(engine)
    served = await client.get("/v1/push/application-server-key", headers=writer)
    assert served.status_code == 200, served.text
    key = served.json()["application_server_key"]
    assert (await client.get("/v1/push/application-server-key")).status_code == 401

    async with PushStandIn() as service:
        browser = service.new_subscriber(application_server_key=key)  # refuses any other key (403)
        assert (await client.post(PATH, json=browser.subscription(), headers=writer)).status_code == 201
        await ProjectionRunner(engine).catch_up()
        sender = WebPushSender(
            engine=engine,
            vapid=vapid_signer(settings),
            vapid_subject="mailto:ops@utility.example",
            local_endpoints=True,  # as the embedded stack builds it (registry.py)
        )
        try:
            receipt = await sender.send(
                OutgoingMessage(
                    idempotency_key="k-1",
                    channel="push",
                    customer_id="C-1",
                    recipient=browser.endpoint,
                    subject="Power is back on",
                    body="Power has been restored at your address.",
                    url="https://utility.example/outages",
                )
            )
        finally:
            await sender.close()
        [received] = service.received_by(browser)
    assert receipt.status == "created" and received.vapid_key == key
    assert json.loads(browser.decrypt(received.body))["title"] == "Power is back on"
