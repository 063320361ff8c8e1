"""A local Web Push service on 127.0.0.1, and the browsers that subscribe to it.

It accepts `POST /push/{id}` as a push service does (RFC 8030): the VAPID `Authorization: vapid
t=<JWT>,k=<key>` header is verified (RFC 8292: the ES256 signature under `k`, `aud` naming this
service, `exp` within 24 hours, a `sub` contact; a subscription made for one application server key
refuses the others with 403), the payload must be `Content-Encoding: aes128gcm` (RFC 8291) and a
`TTL` is required. Accepted messages are recorded, still encrypted, and answered with 201. An endpoint
it was told is gone answers 410; an unknown one 404.

It also plays the browsers: `new_subscriber()` (or `POST /subscribers`) makes a P-256 key pair and an
auth secret whose subscription JSON points here, so tests and the demo can register it through the API
and decrypt what arrives (`GET /messages` shows the text of the messages for subscribers made here).
Nothing is delivered anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gridjourney.channels.standin_server import HotRoute, Reply, ServedApp, json_reply
from gridjourney.config import Settings

URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_PAYLOAD_BYTES = 4096  # RFC 8030 section 7.2: services must accept at least this much
AES128GCM_HEADER_BYTES = 16 + 4 + 1 + 65  # salt, record size, key id length, the sender's P-256 key
MAX_VAPID_LIFETIME = timedelta(hours=24)  # RFC 8292 section 2
MAX_KNOWN_TOKENS = 1024  # verified VAPID tokens remembered (a few per sender and day)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Raises binascii.Error (a ValueError) on anything but base64url, padded or not."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise binascii.Error("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def public_key_text(key: ec.EllipticCurvePublicKey) -> str:
    """base64url of the uncompressed point: how Web Push writes P-256 public keys."""
    return b64url(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@dataclass(frozen=True)
class PushSubscriber:
    """A browser's side of a subscription: its private key and auth secret decrypt what it receives."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None  # the only VAPID key the service accepts for it

    @property
    def p256dh(self) -> str:
        return public_key_text(self.private_key.public_key())

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives in a browser."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def decrypt(self, body: bytes) -> bytes:
        """The plaintext of an aes128gcm body encrypted to this subscriber (RFC 8291)."""
        plaintext: bytes = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return plaintext


def new_subscriber(endpoint_base: str, application_server_key: str | None = None) -> PushSubscriber:
    """A fresh subscriber whose endpoint is `{endpoint_base}/push/<id>`."""
    subscriber_id = secrets.token_urlsafe(16)
    return PushSubscriber(
        id=subscriber_id,
        endpoint=f"{endpoint_base.rstrip('/')}/push/{subscriber_id}",
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth_secret=secrets.token_bytes(16),
        application_server_key=application_server_key,
    )


@dataclass(frozen=True)
class ReceivedPush:
    id: str
    subscriber_id: str
    body: bytes  # encrypted, as it arrived
    content_encoding: str | None
    ttl: int
    urgency: str | None
    topic: str | None
    vapid_subject: str
    vapid_key: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class VapidRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_vapid(header: str, audience: str, now: datetime) -> tuple[str, str]:
    """(sub, k) of a valid `vapid t=...,k=...` header for `audience`; raises VapidRefused (401)."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidRefused(401, "Authorization must use the vapid scheme (RFC 8292)")
    parts = _vapid_params(params)
    token, key_text = parts.get("t", ""), parts.get("k", "")
    if not token or not key_text:
        raise VapidRefused(401, "the vapid Authorization needs t (a JWT) and k (the public key)")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key_text))
    except ValueError as error:
        raise VapidRefused(401, f"k is not a P-256 public key: {error}") from error
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=audience,
            options={"require": ["aud", "exp", "sub"]},
        )
    except jwt.InvalidTokenError as error:
        raise VapidRefused(401, f"the VAPID JWT is not valid for {audience}: {error}") from error
    if datetime.fromtimestamp(int(claims["exp"]), UTC) > now + MAX_VAPID_LIFETIME:
        raise VapidRefused(401, "the VAPID JWT expires more than 24 hours from now")
    subject = str(claims["sub"])
    if not subject.startswith(("mailto:", "https://")):
        raise VapidRefused(401, "the VAPID sub must be a mailto: or https: contact")
    return subject, key_text


def _vapid_params(params: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in params.split(","):
        name, _, value = part.strip().partition("=")
        parts[name] = value
    return parts


def vapid_expiry(header: str) -> datetime:
    """The `exp` of a header `verify_vapid` has accepted (its JWT's claims, read unverified)."""
    token = _vapid_params(header.strip().partition(" ")[2])["t"]
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


def refusal(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": reason}, status_code=status)


def refusal_reply(status: int, reason: str) -> Reply:
    return json_reply({"code": status, "message": reason}, status)


class PushStandIn:
    """Serve with `async with PushStandIn() as service:` or `await start()` / `await stop()`.

    `port=0` picks a free port; `base_url` is known once started.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.received: list[ReceivedPush] = []
        self.response_delay_seconds = 0.0  # a slow service, for timeout tests
        self._subscribers: dict[str, PushSubscriber | None] = {}  # None: registered from outside
        self._gone: set[str] = set()
        self._failures: list[int] = []
        self._vapid_tokens: dict[str, tuple[str, str, datetime]] = {}  # header: sub, k, exp
        others = Starlette(
            routes=[
                Route("/subscribers", self._subscribe, methods=["POST"]),
                Route("/subscribers/{id}", self._unsubscribe, methods=["DELETE"]),
                Route("/messages", self._messages, methods=["GET"]),
            ]
        )
        # The ASGI app served: a test or a benchmark may wrap it before start().
        self.app: ASGIApp = HotRoute(others, "POST", "/push/(?P<id>[^/]+)", self._push)
        self._served = ServedApp(
            self._serve, what="the push stand-in", setting="GRIDJOURNEY_PUSH_STANDIN_PORT"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- the browsers' side ------------------------------------------------------------------------
    def new_subscriber(self, application_server_key: str | None = None) -> PushSubscriber:
        """A subscriber whose endpoint is on this service (which must be started: its port is known)."""
        if not self._served.running:
            raise RuntimeError(
                "start the push stand-in before making subscribers: their endpoints need its port"
            )
        subscriber = new_subscriber(self.base_url, application_server_key)
        self._subscribers[subscriber.id] = subscriber
        return subscriber

    def gone(self, subscriber: PushSubscriber | str) -> None:
        """The browser unsubscribed: its endpoint answers 410 from now on."""
        self._gone.add(subscriber if isinstance(subscriber, str) else subscriber.id)

    def received_by(self, subscriber: PushSubscriber) -> list[ReceivedPush]:
        return [push for push in self.received if push.subscriber_id == subscriber.id]

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` pushes with this status (outages and throttling in tests)."""
        self._failures.extend([status] * count)

    def _verified(self, header: str) -> tuple[str, str]:
        """`verify_vapid`, once per token: a sender reuses its token for many pushes (channels/
        push_vapid.py), and its ES256 check was most of the service's CPU per push. A token seen
        before is taken again until its `exp`; an expired one is verified anew (and refused)."""
        now = datetime.now(UTC)
        known = self._vapid_tokens.get(header)
        if known is not None and now < known[2]:
            return known[0], known[1]
        subject, key = verify_vapid(header, self.base_url, now)
        if len(self._vapid_tokens) >= MAX_KNOWN_TOKENS:
            self._vapid_tokens.clear()
        self._vapid_tokens[header] = (subject, key, vapid_expiry(header))
        return subject, key

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # --- HTTP handlers -----------------------------------------------------------------------------
    async def _push(self, headers: dict[str, str], path: re.Match[str], body: bytes) -> Reply:
        subscriber_id = path["id"]
        if subscriber_id not in self._subscribers:
            return refusal_reply(404, "no such subscription")
        if subscriber_id in self._gone:
            return refusal_reply(410, "the subscription has expired or was unsubscribed")
        try:
            subject, key = self._verified(headers.get("authorization", ""))
        except VapidRefused as refused:
            return refusal_reply(refused.status, refused.reason)
        subscriber = self._subscribers[subscriber_id]
        if subscriber is not None and subscriber.application_server_key not in (None, key):
            return refusal_reply(403, "the VAPID key is not the one this subscription was made for")
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            return refusal_reply(400, "a TTL header (seconds, a non-negative integer) is required")
        urgency, topic = headers.get("urgency"), headers.get("topic")
        if urgency is not None and urgency not in URGENCIES:
            return refusal_reply(400, f"Urgency must be one of {', '.join(sorted(URGENCIES))}")
        if topic is not None and not TOPIC.match(topic):
            return refusal_reply(400, "Topic must be at most 32 base64url characters")
        encoding = headers.get("content-encoding")
        if body and encoding != "aes128gcm":
            return refusal_reply(
                415, "the payload must be encrypted with Content-Encoding: aes128gcm (RFC 8291)"
            )
        if len(body) > MAX_PAYLOAD_BYTES:
            return refusal_reply(413, f"the payload is over {MAX_PAYLOAD_BYTES} bytes")
        if body and (len(body) < AES128GCM_HEADER_BYTES or body[20] != 65):
            return refusal_reply(400, "the aes128gcm header must carry the sender's 65-byte P-256 key")
        if self._failures:
            return refusal_reply(self._failures.pop(0), "the push service is unavailable")
        push = ReceivedPush(
            id=secrets.token_urlsafe(12),
            subscriber_id=subscriber_id,
            body=body,
            content_encoding=encoding,
            ttl=int(ttl),
            urgency=urgency,
            topic=topic,
            vapid_subject=subject,
            vapid_key=key,
        )
        self.received.append(push)
        if self.response_delay_seconds:
            # After recording: a client that gives up now leaves a message that was in fact accepted.
            await asyncio.sleep(self.response_delay_seconds)
        return Reply(201, headers={"location": f"{self.base_url}/m/{push.id}", "ttl": ttl})

    async def _subscribe(self, request: Request) -> JSONResponse:
        try:
            options = json.loads(await request.body() or b"{}")
        except ValueError:
            return refusal(400, 'the body must be JSON, e.g. {"application_server_key": "B..."}')
        key = options.get("application_server_key") if isinstance(options, dict) else None
        subscriber = self.new_subscriber(key if isinstance(key, str) else None)
        return JSONResponse(subscriber.subscription(), status_code=201)

    async def _unsubscribe(self, request: Request) -> Response:
        subscriber_id = request.path_params["id"]
        if subscriber_id not in self._subscribers:
            return refusal(404, "no such subscription")
        self.gone(subscriber_id)
        return Response(status_code=204)

    async def _messages(self, request: Request) -> JSONResponse:
        return JSONResponse([self._describe(push) for push in self.received])

    def _describe(self, push: ReceivedPush) -> dict[str, Any]:
        subscriber = self._subscribers.get(push.subscriber_id)
        text: str | None = None
        if subscriber is not None and push.body:
            try:
                text = subscriber.decrypt(push.body).decode(errors="replace")
            except http_ece.ECEException:
                text = None  # not encrypted to this subscriber's keys: shown as bytes only
        return {
            "id": push.id,
            "endpoint": f"{self.base_url}/push/{push.subscriber_id}",
            "received_at": push.received_at.isoformat(),
            "ttl": push.ttl,
            "urgency": push.urgency,
            "topic": push.topic,
            "vapid_subject": push.vapid_subject,
            "encrypted_bytes": len(push.body),
            "payload": text,
        }

    # --- serving -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.port = await self._served.start(self.host, self.port)

    async def stop(self) -> None:
        await self._served.stop()

    async def __aenter__(self) -> PushStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def push_standin_from_settings(settings: Settings) -> PushStandIn:
    """The embedded stack's push service, on the configured port."""
    return PushStandIn("127.0.0.1", settings.push_standin_port)
