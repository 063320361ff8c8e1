"""Push notifications through Web Push (RFC 8030), encrypted to each browser (RFC 8291, aes128gcm) and
signed with the application server's VAPID key (RFC 8292, one token per push service and period:
channels/push_vapid.py). The encryption is channels/push_encryption.py; the request goes by aiohttp.

A message goes to every browser the customer subscribed (projections/push_subscriptions.py). The
notification is JSON {title, body, url}: a service worker on the utility's site shows it. A push
service that answers 404 or 410 says the subscription is gone for good: `push.unsubscribed` is
recorded and the others still count. Web Push has no way to ask whether a message arrived, so
`lookup` raises LookupUnavailable and the purpose decides (activities/send.py).

aiohttp keeps the worker's event loop free; the deadline is ours (asyncio.timeout).

The endpoint is a URL anyone with an `events:write` key can give, and the worker posts to it from inside
our network: the sender connects only to addresses on the internet (channels/push_address.py; the
embedded stack's stand-in is allowed by `local_endpoints`), follows no redirect (a push service never
redirects a push: a 3xx is a failed send), and posts to at most `max_subscriptions` browsers of a
customer, the newest (the API keeps that many: api/routes/push_subscriptions.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from py_vapid import Vapid, VapidException
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    ProviderReceipt,
    Sender,
    SendError,
    TransientSendError,
)
from gridjourney.channels.provider_http import NO_SESSION_TIMEOUT
from gridjourney.channels.push_address import PublicAddressResolver, RefusedAddress, send_time_problem
from gridjourney.channels.push_encryption import encrypt
from gridjourney.channels.push_vapid import VapidTokens
from gridjourney.config import DEFAULT_PUSH_SUBSCRIPTIONS_PER_CUSTOMER, Settings
from gridjourney.events.models import NewEvent
from gridjourney.events.store import CustomerErased, EventIdConflict, EventStore
from gridjourney.observability.provider_calls import provider_trace_config
from gridjourney.projections.push_subscriptions import (
    PushSubscription,
    subscription_at,
    subscriptions_of,
    subscriptions_of_many,
)

log = logging.getLogger(__name__)

PROVIDER = "webpush"
VAPID_KEY_FILE = "vapid-private-key.txt"
# How long a push service keeps a message for a browser that is offline, and how eagerly it wakes the
# device (RFC 8030 sections 5.2 and 5.3): an outage notice a day late helps nobody.
TTL_BY_PURPOSE = {
    "safety": timedelta(hours=12),
    "informational": timedelta(hours=24),
    "marketing": timedelta(hours=24),
}
URGENCY_BY_PURPOSE = {"safety": "high", "informational": "normal", "marketing": "low"}
DEFAULT_TTL, DEFAULT_URGENCY = timedelta(hours=24), "normal"
# Push services take 4096 bytes of ciphertext (RFC 8030 section 7.2); aes128gcm adds a 86-byte header,
# a 16-byte tag and a padding delimiter.
MAX_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1
MAX_MESSAGE_ID_CHARS = 100  # provider_message_id is a Label in the log (events/types.py)
UNSUBSCRIBED_NAMESPACE = uuid.UUID("0f3e2d77-52a4-4f0c-9a3b-6e1d2c8b7f41")


class VapidKeyError(ValueError):
    """The configured VAPID key or subject cannot sign tokens push services accept."""


def vapid_private_key(settings: Settings) -> str:
    """The VAPID private key (base64url of the raw 32-byte scalar): the setting, else one generated once
    and kept under `home` (owner-only), so subscriptions made against its public key keep working."""
    if settings.vapid_private_key is not None:
        return settings.vapid_private_key.get_secret_value().strip()
    path = settings.home / VAPID_KEY_FILE
    if not path.exists():
        _create_once(path, _generated_key())
    return path.read_text().strip()


def _generated_key() -> str:
    vapid = Vapid()
    vapid.generate_keys()
    scalar = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(scalar).rstrip(b"=").decode()


def _create_once(path: Path, content: str) -> None:
    # Written under another name, then linked: two processes starting at once agree on one key, and
    # none reads a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(content + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def vapid_signer(settings: Settings) -> Vapid:
    key = vapid_private_key(settings)
    problem = "GRIDJOURNEY_VAPID_PRIVATE_KEY must be the base64url raw P-256 private key (32 bytes)"
    try:
        scalar = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except binascii.Error as error:
        raise VapidKeyError(f"{problem}: {error}") from error
    if len(scalar) != 32:
        raise VapidKeyError(f"{problem}; it has {len(scalar)} bytes")
    try:
        return Vapid.from_raw(key.encode())
    except ValueError as error:  # not a valid scalar on the curve
        raise VapidKeyError(f"{problem}: {error}") from error


def checked_subject(vapid: Vapid, subject: str) -> str:
    """The VAPID `sub` if a token can be signed with it: a mailto: address, or an https: origin without
    a path (py_vapid's rule). Checked once, when the sender is built, instead of failing every push."""
    try:
        vapid.sign({"sub": subject, "aud": "https://push.example.net", "exp": int(time.time()) + 60})
    except VapidException as error:
        raise VapidKeyError(
            f"senders.push.vapid_subject {subject!r} in the policy is not a contact push services accept "
            "(use mailto:someone@utility.example or https://utility.example)"
        ) from error
    return subject


def application_server_key(vapid: Vapid) -> str:
    """The VAPID public key, base64url: browsers subscribe with it (`applicationServerKey`)."""
    public = vapid.public_key.public_numbers()
    point = b"\x04" + public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big")
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def topic(idempotency_key: str) -> str:
    """A Topic (RFC 8030 section 5.4) per send: a resend while the first copy still waits at the push
    service replaces it instead of reaching the browser twice."""
    return base64.urlsafe_b64encode(hashlib.sha256(idempotency_key.encode()).digest()).decode()[:32]


def provider_message_id(location: str | None, idempotency_key: str) -> str:
    """The push service's message URL (its Location, RFC 8030 section 5) when it fits the 100
    characters the log keeps; a digest of it when longer (some services' URLs are); the send's
    Topic when the service gave none."""
    if location is None:
        return f"webpush:{topic(idempotency_key)}"
    if len(location) <= MAX_MESSAGE_ID_CHARS:
        return location
    return f"webpush:{hashlib.sha256(location.encode()).hexdigest()}"


def classify_push_status(status: int, text: str) -> SendError | None:
    """The push service's refusal as an error; None when the subscription is gone (404, 410)."""
    reason = f"push service {status}: {text.strip()[:300]}"
    if status in (404, 410):
        return None
    if status in (401, 403, 429):
        # Our VAPID credentials or our rate: fixing them (or waiting) lets retries through; the
        # service did not take the message.
        return TransientSendError(reason, code=str(status))
    if status >= 500:
        return TransientSendError(reason, code=str(status), maybe_accepted=True)
    return PermanentSendError(reason, code=str(status))


@dataclass(frozen=True)
class _Delivery:
    subscription: PushSubscription
    message_id: str | None = None  # accepted: the provider_message_id
    error: SendError | None = None  # refused, or could not be reached
    gone_status: int | None = None  # 404/410: the subscription is gone for good


class WebPushSender:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        vapid: Vapid,
        vapid_subject: str,
        store: EventStore | None = None,
        timeout_seconds: float = 10.0,
        local_endpoints: bool = False,
        max_subscriptions: int = DEFAULT_PUSH_SUBSCRIPTIONS_PER_CUSTOMER,
    ) -> None:
        self.engine = engine
        self.store = store or EventStore(engine)
        self.vapid = vapid
        self.vapid_subject = checked_subject(vapid, vapid_subject)
        self.vapid_tokens = VapidTokens(vapid, self.vapid_subject)
        self._timeout = timeout_seconds
        self.local_endpoints = local_endpoints  # settings.push_local_endpoints: the local stand-in
        self.max_subscriptions = max_subscriptions
        self._http: aiohttp.ClientSession | None = None

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        data = _payload(message)
        return await self._deliver(message, data, await self._subscriptions(message))

    async def with_subscriptions_of(self, messages: Sequence[OutgoingMessage]) -> Sender:
        """A sender for these messages that reads their customers' subscriptions once, here, in one
        query (a cohort batch, channels/bulk.py), instead of once per message."""
        customer_ids = sorted({m.customer_id for m in messages if m.customer_id is not None})
        try:
            # begin(), not connect(): a ROLLBACK would make psycopg forget the connection's prepared
            # statements (db/engine.py)
            async with self.engine.begin() as conn:
                found = await subscriptions_of_many(conn, customer_ids)
        except SQLAlchemyError as error:
            raise TransientSendError(f"reading the push subscriptions failed: {error}") from error
        return _KnownSubscriptions(
            self, {customer_id: found.get(customer_id, []) for customer_id in customer_ids}
        )

    async def _deliver(
        self, message: OutgoingMessage, data: str, subscriptions: list[PushSubscription]
    ) -> ProviderReceipt:
        if not subscriptions:
            raise PermanentSendError("the customer has no push subscription", invalid_recipient=True)
        if len(subscriptions) > self.max_subscriptions:
            # The API replaces the oldest beyond the cap, but its projection may lag a burst of
            # subscriptions: one message never becomes more requests than the cap.
            log.warning(
                "customer %s has %d push subscriptions; the newest %d are sent to",
                message.customer_id,
                len(subscriptions),
                self.max_subscriptions,
            )
            subscriptions = subscriptions[-self.max_subscriptions :]  # oldest first
        if len(subscriptions) == 1:  # most customers: no task of its own
            deliveries = [await self._push(subscriptions[0], data, message)]
        else:
            deliveries = list(await asyncio.gather(*(self._push(s, data, message) for s in subscriptions)))
        gone = [d for d in deliveries if d.gone_status is not None]
        await self._record_gone(message, gone)
        accepted = [d.message_id for d in deliveries if d.message_id is not None]
        errors = [d.error for d in deliveries if d.error is not None]
        if accepted:
            for error in errors:
                log.warning("push to one of %d browsers failed: %s", len(deliveries), error.reason)
            return ProviderReceipt(provider=PROVIDER, provider_message_id=accepted[0], status="created")
        transient = [e for e in errors if isinstance(e, TransientSendError)]
        if transient:
            raise TransientSendError(
                "; ".join(e.reason for e in transient),
                code=transient[0].code,
                maybe_accepted=any(e.maybe_accepted for e in transient),
            )
        if errors:
            raise PermanentSendError("; ".join(e.reason for e in errors), code=errors[0].code)
        raise PermanentSendError(
            f"every push subscription of the customer is gone ({len(gone)})",
            code="410",
            invalid_recipient=True,
        )

    async def _subscriptions(self, message: OutgoingMessage) -> list[PushSubscription]:
        try:
            async with self.engine.connect() as conn:
                if message.customer_id is not None:
                    return await subscriptions_of(conn, message.customer_id)
                # Without the customer's id, only the endpoint the message names can be reached.
                one = await subscription_at(conn, message.recipient)
                return [one] if one is not None else []
        except SQLAlchemyError as error:
            raise TransientSendError(f"reading the push subscriptions failed: {error}") from error

    def _session(self) -> aiohttp.ClientSession:
        # Created lazily inside the running event loop: aiohttp sessions belong to one loop.
        if self._http is None or self._http.closed:
            # Every connection of the pool resolves names through the check (push_address.py).
            resolver = None if self.local_endpoints else PublicAddressResolver()
            # as provider_session (provider_http.py), with the checking connector
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver),
                timeout=NO_SESSION_TIMEOUT,
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[provider_trace_config(PROVIDER)],
            )
        return self._http

    async def _push(self, subscription: PushSubscription, data: str, message: OutgoingMessage) -> _Delivery:
        if (problem := send_time_problem(subscription.endpoint, self.local_endpoints)) is not None:
            return _Delivery(subscription, error=_refused(problem))
        purpose = message.purpose or ""
        ttl = TTL_BY_PURPOSE.get(purpose, DEFAULT_TTL)
        try:
            body = encrypt(data.encode(), subscription.p256dh, subscription.auth)
        except ValueError as error:  # the browser's key is not a usable P-256 point, or its secret
            return _Delivery(subscription, error=PermanentSendError(f"push not encrypted: {error}"))
        headers = {
            "TTL": str(int(ttl.total_seconds())),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": URGENCY_BY_PURPOSE.get(purpose, DEFAULT_URGENCY),
            "Topic": topic(message.idempotency_key),
            # The VAPID token of the endpoint's push service, signed once for many pushes.
            **self.vapid_tokens.headers(subscription.endpoint),
        }
        try:
            async with asyncio.timeout(self._timeout):
                session = self._session()
                # A push service never redirects a push: a 3xx is not followed (it could point anywhere).
                async with session.post(
                    subscription.endpoint, data=body, headers=headers, allow_redirects=False
                ) as response:
                    # read to the end, so that the connection goes back to the pool
                    answer = await response.read()
                    status, location = response.status, response.headers.get("Location")
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, RefusedAddress):
                return _Delivery(subscription, error=_refused(str(error.os_error)))
            # The connection was never made: nothing reached the push service.
            return _Delivery(
                subscription, error=TransientSendError(f"cannot reach the push service: {error}")
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            reason = f"push interrupted: {type(error).__name__}: {error}"
            return _Delivery(subscription, error=TransientSendError(reason, maybe_accepted=True))
        if 300 <= status < 400:
            reason = (
                f"push service {status} redirecting to {location or '(no Location)'}: "
                "not followed (a push service does not redirect a push)"
            )
            return _Delivery(subscription, error=PermanentSendError(reason[:400], code=str(status)))
        if status >= 300:
            refusal = classify_push_status(status, answer.decode(errors="replace"))
            if refusal is None:
                return _Delivery(subscription, gone_status=status)
            return _Delivery(subscription, error=refusal)
        return _Delivery(subscription, message_id=provider_message_id(location, message.idempotency_key))

    async def _record_gone(self, message: OutgoingMessage, gone: list[_Delivery]) -> None:
        """push.unsubscribed for each subscription the push service no longer knows. The event id comes
        from the send and the endpoint, so a retried send records it once."""
        now = datetime.now(UTC)
        for delivery in gone:
            subscription = delivery.subscription
            event = NewEvent(
                event_id=uuid.uuid5(
                    UNSUBSCRIBED_NAMESPACE, f"{message.idempotency_key}\x00{subscription.endpoint}"
                ),
                type="push.unsubscribed",
                customer_id=subscription.customer_id,
                occurred_at=now,
                source="gridjourney",
                payload={
                    "endpoint": subscription.endpoint,
                    "reason": f"gone: the push service answered {delivery.gone_status}",
                },
            )
            try:
                await self.store.append([event])
            except (EventIdConflict, CustomerErased):
                continue  # recorded by an earlier attempt; or the customer is erased, rows and all
            except SQLAlchemyError as error:
                # The next send finds it gone again and records it then.
                log.warning("recording a gone push subscription failed: %s", type(error).__name__)

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        raise LookupUnavailable("Web Push has no look-up: a push service cannot say what it delivered")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None


def _refused(problem: str) -> PermanentSendError:
    return PermanentSendError(
        f"push endpoint refused: {problem}; the sender posts only to push services on the internet "
        "(GRIDJOURNEY_PUSH_LOCAL_ENDPOINTS allows the local stand-in)",
        code="endpoint_refused",
    )


def _payload(message: OutgoingMessage) -> str:
    if message.channel != "push":
        raise PermanentSendError(f"WebPushSender cannot send {message.channel}")
    data = json.dumps({"title": message.subject or "", "body": message.body, "url": message.url})
    if len(data.encode()) > MAX_PLAINTEXT_BYTES:
        raise PermanentSendError(f"the notification is over {MAX_PLAINTEXT_BYTES} bytes of JSON")
    return data


class _KnownSubscriptions:
    """`WebPushSender.send` with the subscriptions already read (`with_subscriptions_of`); a message
    of another customer (or none) reads its own, as `send` does."""

    def __init__(self, sender: WebPushSender, known: dict[str, list[PushSubscription]]) -> None:
        self._sender = sender
        self._known = known  # every customer asked about, with [] for one without a subscription

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        data = _payload(message)
        customer_id = message.customer_id
        if customer_id is not None and customer_id in self._known:
            return await self._sender._deliver(message, data, self._known[customer_id])
        return await self._sender._deliver(message, data, await self._sender._subscriptions(message))

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        return await self._sender.lookup(message, since)

    async def close(self) -> None:
        """Nothing of its own: the sender it wraps is closed by its owner."""
