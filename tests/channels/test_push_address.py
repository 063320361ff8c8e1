"""The push sender posts only where a push service can be: no redirect followed, no address on this
machine or a private network (as written, or as a name resolves when the sender connects), and no more
than the cap of a customer's browsers. Real HTTP servers on 127.0.0.x, a real database."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from py_vapid import Vapid
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import PermanentSendError
from gridjourney.channels.push import WebPushSender, application_server_key
from gridjourney.channels.push_address import (
    PublicAddressResolver,
    RefusedAddress,
    address_problem,
    send_time_problem,
)
from gridjourney.channels.push_standin import PushStandIn, new_subscriber
from tests.channels.test_push import SUBJECT, message, subscribe

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RecordingServer:
    """An HTTP server on one loopback address that records the paths posted to it."""

    def __init__(self, host: str, handler: Handler | None = None) -> None:
        self.host = host
        self.port = 0
        self.posted: list[str] = []
        self._handler = handler
        self._runner: web.AppRunner | None = None

    async def _record(self, request: web.Request) -> web.StreamResponse:
        self.posted.append(request.path)
        await request.read()
        if self._handler is not None:
            return await self._handler(request)
        return web.Response(status=201, text="taken")

    async def __aenter__(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
def vapid() -> Any:
    key = Vapid()
    key.generate_keys()
    return key


@pytest.fixture
async def internal() -> AsyncIterator[RecordingServer]:
    """A service of our own network (a cloud's metadata service, say), on 127.0.0.2."""
    async with RecordingServer("127.0.0.2") as server:
        yield server


def sender_for(engine: AsyncEngine, vapid: Any, *, local: bool, **options: Any) -> WebPushSender:
    return WebPushSender(
        engine=engine,
        vapid=vapid,
        vapid_subject=SUBJECT,
        timeout_seconds=2.0,
        local_endpoints=local,
        **options,
    )


async def test_a_redirect_is_not_followed_and_the_send_fails_saying_so(
    engine: AsyncEngine, vapid: Any, internal: RecordingServer
) -> None:
    target = f"http://127.0.0.2:{internal.port}/latest/meta-data/iam/security-credentials/"

    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=307, headers={"Location": target})

    # The endpoint itself is allowed (the dev stack's setting): the redirect is what must not be taken.
    async with RecordingServer("127.0.0.1", redirect) as redirector:
        browser = new_subscriber(f"http://127.0.0.1:{redirector.port}")
        await subscribe(engine, "C-1", browser)
        sender = sender_for(engine, vapid, local=True)
        try:
            with pytest.raises(PermanentSendError) as refused:
                await sender.send(message())
        finally:
            await sender.close()
        assert len(redirector.posted) == 1
    assert internal.posted == []
    assert refused.value.code == "307"
    assert "not followed" in refused.value.reason and target in refused.value.reason


async def test_a_permanent_redirect_to_a_public_looking_address_is_not_followed_either(
    engine: AsyncEngine, vapid: Any, internal: RecordingServer
) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=308, headers={"Location": f"http://127.0.0.2:{internal.port}/x"})

    async with RecordingServer("127.0.0.1", redirect) as redirector:
        phone, laptop = (new_subscriber(f"http://127.0.0.1:{redirector.port}") for _ in range(2))
        await subscribe(engine, "C-1", phone, laptop)
        sender = sender_for(engine, vapid, local=True)
        try:
            with pytest.raises(PermanentSendError, match="308"):
                await sender.send(message())
        finally:
            await sender.close()
        assert len(redirector.posted) == 2  # each browser once, no second request
    assert internal.posted == []


async def test_a_name_resolving_to_this_machine_is_refused_when_the_sender_connects(
    engine: AsyncEngine, vapid: Any
) -> None:
    """`vm` (this machine's name, in /etc/hosts) is not spelled as an address: only resolving it shows
    where the sender would connect. Allowed, the same name reaches the server: the refusal is the
    resolver's, not a failed connection."""
    async with RecordingServer("127.0.0.1") as server:
        hostname = socket.gethostname()
        browser = new_subscriber(f"https://{hostname}:{server.port}")
        await subscribe(engine, "C-1", browser)
        sender = sender_for(engine, vapid, local=False)
        try:
            with pytest.raises(PermanentSendError) as refused:
                await sender.send(message())
        finally:
            await sender.close()
        assert server.posted == []
        assert refused.value.code == "endpoint_refused"
        assert f"{hostname} resolves to" in refused.value.reason

        # The stand-in's setting: the same kind of name (over plain http, as the stand-in speaks) is let
        # through and reaches the server.
        local = new_subscriber(f"http://localhost:{server.port}")
        await subscribe(engine, "C-2", local)
        allowed = sender_for(engine, vapid, local=True)
        try:
            await allowed.send(message(customer_id="C-2"))
        finally:
            await allowed.close()
        assert len(server.posted) == 1


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.2/push/1",
        "https://[::1]/push/1",
        "https://[::ffff:169.254.169.254]/push/1",
        "https://localhost/push/1",
        "http://push.example.net/push/1",  # plain http: only the local stand-in speaks it
    ],
)
async def test_an_endpoint_written_as_a_local_address_is_refused_before_any_request(
    engine: AsyncEngine, vapid: Any, endpoint: str
) -> None:
    # e.g. a subscription recorded before the API checked it, or with the setting on at the time
    browser = dataclasses.replace(new_subscriber("https://push.example.net"), endpoint=endpoint)
    await subscribe(engine, "C-1", browser)
    sender = sender_for(engine, vapid, local=False)
    try:
        with pytest.raises(PermanentSendError, match="push endpoint refused") as refused:
            await sender.send(message())
    finally:
        await sender.close()
    assert refused.value.code == "endpoint_refused"


class _Answers(AbstractResolver):
    """A DNS answer fixed by the test: a name that resolves to whatever an attacker's zone says."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_the_resolver_refuses_a_name_with_any_address_off_the_internet() -> None:
    with pytest.raises(RefusedAddress, match=r"rebind\.example resolves to 127\.0\.0\.1"):
        await PublicAddressResolver(_Answers("93.184.215.14", "127.0.0.1")).resolve("rebind.example", 443)
    with pytest.raises(RefusedAddress, match="link-local"):
        await PublicAddressResolver(_Answers("169.254.169.254")).resolve("metadata.example", 80)
    with pytest.raises(RefusedAddress, match="localhost resolves to"):
        await PublicAddressResolver().resolve("localhost", 443)  # the system's resolver
    [public] = await PublicAddressResolver(_Answers("93.184.215.14")).resolve("push.example", 443)
    assert public["host"] == "93.184.215.14"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.2", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.5", "private"),  # a compose service
        ("192.168.0.1", "private"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT: not the internet
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("ff02::1", "multicast"),
    ],
)
def test_addresses_no_push_service_has(address: str, kind: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and kind in problem


@pytest.mark.parametrize("address", ["93.184.215.14", "142.250.72.14", "2606:4700:4700::1111"])
def test_addresses_on_the_internet_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_stand_in_setting_lets_local_endpoints_through() -> None:
    assert send_time_problem("http://127.0.0.1:8091/push/1", local_allowed=True) is None
    assert send_time_problem("http://127.0.0.1:8091/push/1", local_allowed=False) is not None
    assert send_time_problem("https://push.example.net/push/1", local_allowed=False) is None


async def test_a_message_goes_to_at_most_the_cap_of_a_customers_browsers_the_newest(
    engine: AsyncEngine, vapid: Any
) -> None:
    """However many subscriptions the projection holds (the API's cap counts in it, and it may lag a
    burst), one message is at most `max_subscriptions` requests."""
    async with PushStandIn() as service:
        key = application_server_key(vapid)
        browsers = [service.new_subscriber(application_server_key=key) for _ in range(7)]
        await subscribe(engine, "C-1", *browsers)  # recorded in this order: created_at orders them
        sender = sender_for(engine, vapid, local=True, max_subscriptions=3)
        try:
            receipt = await sender.send(message())
        finally:
            await sender.close()
        reached = [b for b in browsers if service.received_by(b)]
    assert receipt.status == "created"
    assert reached == browsers[-3:]
    assert len(service.received) == 3
