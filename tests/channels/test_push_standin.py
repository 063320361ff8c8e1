"""The push stand-in, driven by pywebpush over real HTTP: it checks what a push service checks."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from gridjourney.channels.push_standin import PushStandIn, PushSubscriber, public_key_text
from gridjourney.channels.standin_server import StandInPortBusy

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


async def push(
    subscriber: PushSubscriber, vapid: Any, data: str = '{"title":"hi"}', **options: Any
) -> aiohttp.ClientResponse:
    claims: dict[str, Any] = {"sub": SUBJECT, **options.pop("claims", {})}
    response: aiohttp.ClientResponse = await webpush_async(
        subscriber.subscription(),
        data,
        vapid_private_key=vapid,
        vapid_claims=claims,
        ttl=options.pop("ttl", 60),
        **options,
    )
    return response


async def refused(subscriber: PushSubscriber, vapid: Any, **options: Any) -> tuple[int | None, str]:
    with pytest.raises(WebPushException) as raised:
        await push(subscriber, vapid, **options)
    return raised.value.status_code, str(raised.value)


async def test_a_push_is_recorded_encrypted_and_the_subscriber_decrypts_it(
    service: PushStandIn, vapid: Any
) -> None:
    subscriber = service.new_subscriber()

    response = await push(subscriber, vapid, ttl=3600, headers={"Urgency": "high", "Topic": "outage-1"})

    assert response.status == 201
    assert response.headers["Location"].startswith(f"{service.base_url}/m/")
    [received] = service.received_by(subscriber)
    assert b"hi" not in received.body  # encrypted on the wire
    assert received.content_encoding == "aes128gcm"
    assert json.loads(subscriber.decrypt(received.body)) == {"title": "hi"}
    assert (received.ttl, received.urgency, received.topic) == (3600, "high", "outage-1")
    assert received.vapid_subject == SUBJECT
    assert received.vapid_key == public_key_text(vapid.public_key)


async def test_a_vapid_header_that_does_not_verify_is_401(service: PushStandIn, vapid: Any) -> None:
    subscriber = service.new_subscriber()
    other = Vapid()
    other.generate_keys()
    signed = vapid.sign({"sub": SUBJECT, "aud": service.base_url, "exp": int(time.time()) + 600})
    token = signed["Authorization"].split("t=")[1].split(",")[0]
    forged = f"vapid t={token},k={public_key_text(other.public_key)}"  # signed by one key, claims another

    async with aiohttp.ClientSession() as http:
        for authorization in (forged, "", "WebPush " + token, f"vapid t={token}"):
            async with http.post(
                subscriber.endpoint, headers={"Authorization": authorization, "TTL": "60"}
            ) as answer:
                assert answer.status == 401, (authorization, await answer.text())
    assert service.received == []


async def test_a_token_verified_once_is_taken_again_until_it_expires(
    service: PushStandIn, vapid: Any
) -> None:
    subscriber = service.new_subscriber()
    other = Vapid()
    other.generate_keys()
    expires = int(time.time()) + 2
    signed = vapid.sign({"sub": SUBJECT, "aud": service.base_url, "exp": expires})
    token = signed["Authorization"].split("t=")[1].split(",")[0]
    forged = f"vapid t={token},k={public_key_text(other.public_key)}"
    headers = {"Authorization": signed["Authorization"], "TTL": "60"}

    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(subscriber.endpoint, headers=headers) as answer:
                assert answer.status == 201, await answer.text()
        # the same JWT under another key is a header of its own: verified, and refused
        async with http.post(subscriber.endpoint, headers={**headers, "Authorization": forged}) as answer:
            assert answer.status == 401
        while time.time() < expires + 0.1:
            await asyncio.sleep(0.1)
        async with http.post(subscriber.endpoint, headers=headers) as answer:
            assert answer.status == 401 and "not valid" in await answer.text()
    assert len(service.received) == 2


async def test_a_jwt_for_another_push_service_or_too_long_lived_is_401(
    service: PushStandIn, vapid: Any
) -> None:
    subscriber = service.new_subscriber()
    status, text = await refused(subscriber, vapid, claims={"aud": "https://push.example.net"})
    assert status == 401 and "not valid" in text
    status, text = await refused(subscriber, vapid, claims={"exp": int(time.time()) + 3 * 86400})
    assert status == 401 and "24 hours" in text
    assert service.received == []


async def test_a_subscription_made_for_one_application_server_key_refuses_others_with_403(
    service: PushStandIn, vapid: Any
) -> None:
    subscriber = service.new_subscriber(application_server_key=public_key_text(vapid.public_key))
    other = Vapid()
    other.generate_keys()

    status, _ = await refused(subscriber, other)
    assert status == 403
    assert (await push(subscriber, vapid)).status == 201
    assert len(service.received) == 1


async def test_gone_unknown_and_malformed_pushes(service: PushStandIn, vapid: Any) -> None:
    subscriber = service.new_subscriber()
    service.gone(subscriber)
    assert (await refused(subscriber, vapid))[0] == 410
    stranger = PushSubscriber(
        id="unknown",
        endpoint=f"{service.base_url}/push/unknown",
        private_key=subscriber.private_key,
        auth_secret=subscriber.auth_secret,
    )
    assert (await refused(stranger, vapid))[0] == 404

    fresh = service.new_subscriber()
    authorization = vapid.sign({"sub": SUBJECT, "aud": service.base_url, "exp": int(time.time()) + 600})
    async with aiohttp.ClientSession() as http:
        cases: list[tuple[dict[str, str], bytes, int]] = [
            ({}, b"", 400),  # no TTL
            ({"TTL": "60", "Content-Encoding": "aesgcm"}, b"x" * 100, 415),
            ({"TTL": "60", "Content-Encoding": "aes128gcm"}, b"x" * 4097, 413),
            ({"TTL": "60", "Content-Encoding": "aes128gcm"}, b"x" * 30, 400),  # no aes128gcm header
            ({"TTL": "60", "Urgency": "urgent"}, b"", 400),
            ({"TTL": "60", "Topic": "not a topic!"}, b"", 400),
        ]
        for headers, body, expected in cases:
            async with http.post(fresh.endpoint, headers=authorization | headers, data=body) as answer:
                assert answer.status == expected, (headers, await answer.text())
        async with http.post(fresh.endpoint, headers=authorization | {"TTL": "0"}) as answer:
            assert answer.status == 201  # a push without a payload is allowed
    assert [r.body for r in service.received] == [b""]


async def test_failures_on_demand(service: PushStandIn, vapid: Any) -> None:
    subscriber = service.new_subscriber()
    service.fail_next(503)
    assert (await refused(subscriber, vapid))[0] == 503
    assert (await push(subscriber, vapid)).status == 201


async def test_subscribers_and_messages_over_http(service: PushStandIn, vapid: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service.base_url}/subscribers") as created:
            assert created.status == 201
            subscription = await created.json()
        assert subscription["endpoint"].startswith(f"{service.base_url}/push/")
        assert set(subscription["keys"]) == {"p256dh", "auth"}
        await webpush_async(
            subscription, '{"title":"Outage"}', vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}
        )
        async with http.get(f"{service.base_url}/messages") as listed:
            [message] = await listed.json()
        assert message["payload"] == '{"title":"Outage"}'
        assert message["endpoint"] == subscription["endpoint"]
        async with http.delete(
            f"{service.base_url}/subscribers/{subscription['endpoint'].rsplit('/', 1)[1]}"
        ) as gone:
            assert gone.status == 204
        async with http.post(f"{service.base_url}/subscribers", data=b"{not json") as bad:
            assert bad.status == 400
    with pytest.raises(WebPushException) as raised:
        await webpush_async(subscription, "again", vapid_private_key=vapid, vapid_claims={"sub": SUBJECT})
    assert raised.value.status_code == 410


async def test_subscribers_need_a_started_service() -> None:
    with pytest.raises(RuntimeError, match="start the push stand-in"):
        PushStandIn().new_subscriber()


async def test_a_busy_port_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StandInPortBusy, match="GRIDJOURNEY_PUSH_STANDIN_PORT"):
            await PushStandIn("127.0.0.1", taken.getsockname()[1]).start()
