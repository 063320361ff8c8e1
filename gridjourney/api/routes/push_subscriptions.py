"""`POST /v1/customers/{id}/push-subscriptions`: a browser's Web Push subscription, as
PushSubscription.toJSON() gives it, recorded as `push.subscribed`; `DELETE` of one by its endpoint
records `push.unsubscribed`. The push sender reaches every subscription (gridjourney/channels/push.py).
`GET /v1/push/application-server-key`: the VAPID public key browsers subscribe with.

A subscription is checked as a push service would use it: an https endpoint, a P-256 public key that
is a point on the curve, a 16-byte auth secret. The sender posts to the endpoint from inside our
network, so an endpoint on this machine or a private network is refused: written as an address, as
`localhost`, or a name that resolves to one now (channels/push_address.py; a name that does not
resolve yet is accepted: the sender checks the address it connects to). Only the embedded stack's
stand-in may be local (settings.push_local_endpoints), and plain http is allowed only there, on
loopback.

A customer keeps at most settings.push_subscriptions_per_customer browsers: a new one beyond that
replaces the oldest (recorded as push.unsubscribed with the new push.subscribed, and named in the
answer). Browsers rotate their subscriptions (pushsubscriptionchange) and a page seldom removes the old
one, so the newest are the live ones: refusing the new one would keep dead endpoints and lose the
browser the customer uses now. The projection this counts in may lag a burst of subscriptions; the
sender never posts to more than that many of a customer's browsers either (channels/push.py).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Body, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gridjourney.api.deps import EngineDep, EventsWriter, SettingsDep, StoreDep
from gridjourney.api.problems import FieldError, customer_erased, invalid, not_found, problem_responses
from gridjourney.channels.push import application_server_key, vapid_signer
from gridjourney.channels.push_address import address_problem, is_loopback_name, resolved_problem
from gridjourney.events.fields import CUSTOMER_ID_PATTERN, clean_text_problem
from gridjourney.events.models import NewEvent
from gridjourney.privacy.erasure import erased_at
from gridjourney.projections import queries
from gridjourney.projections.push_subscriptions import PushSubscription, subscription_at, subscriptions_of

router = APIRouter(tags=["customers"])

CustomerPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, description="The customer's id.")]
MAX_ENDPOINT_CHARS = 1000
SOURCE = "api"


def _base64url(value: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise ValueError("must be base64url (A-Z a-z 0-9 - _), as the browser gives it")
    unpadded = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error as error:
        raise ValueError(f"is not valid base64url: {error}") from error


def push_service_url(value: str) -> str:
    """The endpoint if a push service could be reached at it, else ValueError saying why."""
    if (problem := clean_text_problem(value)) is not None:
        raise ValueError(problem)
    try:
        url = urlsplit(value)
        host, _port = url.hostname, url.port  # a port out of range is a ValueError
    except ValueError as error:
        raise ValueError(f"is not a URL: {error}") from error
    if not host or url.username is not None or url.password is not None:
        raise ValueError("must be a push service URL with a host and no credentials")
    if value.startswith(("https://", "http://")):
        return value  # where it points is judged with the settings: endpoint_problem
    raise ValueError("must be an https URL")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host spells literally, also in the forms a resolver reads (127.1, 2130706433)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_loopback(host: str) -> bool:
    address = _literal_address(host)
    return is_loopback_name(host) or (address is not None and address.is_loopback)


def endpoint_problem(endpoint: str, local_allowed: bool) -> str | None:
    """Why the sender must not post to this (well-formed) endpoint as it is written, or None. Names
    are judged as they resolve: `resolved_endpoint_problem`."""
    url = urlsplit(endpoint)
    host = (url.hostname or "").rstrip(".")
    if url.scheme == "http" and not (local_allowed and _is_loopback(host)):
        return "must be an https URL (plain http only for the local push stand-in)"
    if local_allowed:
        return None
    address = _literal_address(host)
    problem = f"{host} is this machine" if is_loopback_name(host) else None
    if address is not None:
        problem = address_problem(address)
    if problem is not None:
        return f"must be a push service on the internet; {problem} (this machine or a private network)"
    return None


async def resolved_endpoint_problem(endpoint: str, local_allowed: bool) -> str | None:
    """`endpoint_problem` for a host written as a name: refused when it resolves now to an address
    no push service has (this machine, a compose service, a private network)."""
    if local_allowed:
        return None
    url = urlsplit(endpoint)
    host = (url.hostname or "").rstrip(".")
    problem = await resolved_problem(host, url.port or 443)
    if problem is not None:
        return f"must be a push service on the internet; {problem} (this machine or a private network)"
    return None


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: str = Field(max_length=200, description="The browser's P-256 public key (base64url, 65 bytes).")
    auth: str = Field(
        max_length=100, description="The browser's authentication secret (base64url, 16 bytes)."
    )

    @field_validator("p256dh")
    @classmethod
    def _a_p256_point(cls, value: str) -> str:
        raw = _base64url(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError(
                f"must be an uncompressed P-256 public key (65 bytes, first 0x04); got {len(raw)} bytes"
            )
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError as error:
            raise ValueError("is not a point on the P-256 curve") from error
        return value

    @field_validator("auth")
    @classmethod
    def _sixteen_bytes(cls, value: str) -> str:
        raw = _base64url(value)
        if len(raw) != 16:
            raise ValueError(f"must be a 16-byte authentication secret; got {len(raw)} bytes")
        return value


class PushSubscriptionBody(BaseModel):
    """PushSubscription.toJSON() of the customer's browser."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(
        max_length=MAX_ENDPOINT_CHARS, description="The push service URL (https, on the internet)."
    )
    expirationTime: int | None = Field(  # the browser's own name
        None, description="When the subscription expires (ms since the epoch), if the browser says."
    )
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _push_service_url(cls, value: str) -> str:
        return push_service_url(value)

    @field_validator("expirationTime")
    @classmethod
    def _not_expired(cls, value: int | None) -> int | None:
        if value is not None and value <= datetime.now(UTC).timestamp() * 1000:
            raise ValueError("the subscription has already expired; subscribe the browser again")
        return value


BROWSER_EXAMPLE = {
    "endpoint": "https://push.example.net/wpush/v2/NAMGV4a-0xhy0gM4RYarhjguInU",
    "expirationTime": None,
    "keys": {
        "p256dh": "BOI6qr2UUUVJ59jkdr_YeFxkuvvKfZsqqxj_69CYK-Qmy1ANmSLPh3mpKjkDVDl7in17HwCkEi7ZR6cNtPn7HcU",
        "auth": "yNERLAqIgiAfkj79dlwlSQ",
    },
}
SubscriptionBody = Annotated[
    PushSubscriptionBody,
    Body(openapi_examples={"browser": {"summary": "PushSubscription.toJSON()", "value": BROWSER_EXAMPLE}}),
]


class PushSubscriptionRecorded(BaseModel):
    customer_id: str
    endpoint: str
    event_id: uuid.UUID | None = Field(
        description="The push.subscribed / push.unsubscribed event; null: nothing new."
    )
    position: int | None = Field(description="Its position in the log.")
    replaced: list[str] = Field(
        default_factory=list,
        description="The customer's oldest subscriptions this one replaced (push.unsubscribed): a "
        "customer keeps at most GRIDJOURNEY_PUSH_SUBSCRIPTIONS_PER_CUSTOMER browsers.",
    )


async def _writable_customer(engine: EngineDep, customer_id: str) -> None:
    if await erased_at(engine, customer_id) is not None:
        raise customer_erased(customer_id)
    async with engine.connect() as conn:
        if not await queries.customer_exists(conn, customer_id):
            raise not_found("customer", customer_id, field="customer_id")


@router.post(
    "/v1/customers/{customer_id}/push-subscriptions",
    status_code=status.HTTP_201_CREATED,
    summary="Register a browser for push notifications",
    description="Records `push.subscribed` with the body of the browser's PushSubscription.toJSON(). "
    "Registering a subscription the customer already has, with the same keys, answers 200 and records "
    "nothing. The endpoint is removed again when the customer or the push service says it is gone. "
    "A customer keeps at most GRIDJOURNEY_PUSH_SUBSCRIPTIONS_PER_CUSTOMER (10) subscriptions: a new one "
    "beyond that replaces the oldest (`replaced`). An endpoint on this machine or a private network, "
    "written as an address or a name resolving to one, is 422.",
    responses={
        **problem_responses(401, 403, 404, 410, 422),
        200: {"description": "Already registered; nothing recorded", "model": PushSubscriptionRecorded},
    },
)
async def register_push_subscription(
    customer_id: CustomerPath,
    body: SubscriptionBody,
    response: Response,
    _: EventsWriter,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
) -> PushSubscriptionRecorded:
    local_allowed = settings.push_local_endpoints
    problem = endpoint_problem(body.endpoint, local_allowed) or await resolved_endpoint_problem(
        body.endpoint, local_allowed
    )
    if problem is not None:
        raise invalid(f"endpoint {problem}", [FieldError(field="endpoint", reason=problem)])
    await _writable_customer(engine, customer_id)
    async with engine.connect() as conn:
        known = await subscription_at(conn, body.endpoint)
        others = [s for s in await subscriptions_of(conn, customer_id) if s.endpoint != body.endpoint]
    if known is not None and (known.customer_id, known.p256dh, known.auth) == (
        customer_id,
        body.keys.p256dh,
        body.keys.auth,
    ):
        response.status_code = status.HTTP_200_OK
        return PushSubscriptionRecorded(
            customer_id=customer_id, endpoint=body.endpoint, event_id=None, position=None
        )
    now = datetime.now(UTC)
    limit = settings.push_subscriptions_per_customer
    replaced = _oldest_beyond(others, limit)
    removals = [
        NewEvent(
            event_id=uuid.uuid4(),
            type="push.unsubscribed",
            customer_id=customer_id,
            occurred_at=now,
            source=SOURCE,
            payload={
                "endpoint": old.endpoint,
                "reason": f"replaced by a newer subscription: a customer keeps at most {limit}",
            },
        )
        for old in replaced
    ]
    event = NewEvent(
        event_id=uuid.uuid4(),
        type="push.subscribed",
        customer_id=customer_id,
        occurred_at=now,
        source=SOURCE,
        payload={"endpoint": body.endpoint, "p256dh": body.keys.p256dh, "auth": body.keys.auth},
    )
    # One append: the oldest go only if the new one is recorded. CustomerErased (erased meanwhile)
    # answers 410.
    result = (await store.append([*removals, event]))[-1]
    return PushSubscriptionRecorded(
        customer_id=customer_id,
        endpoint=body.endpoint,
        event_id=result.event_id,
        position=result.position,
        replaced=[old.endpoint for old in replaced],
    )


def _oldest_beyond(subscriptions: list[PushSubscription], limit: int) -> list[PushSubscription]:
    """The oldest of the customer's other subscriptions (oldest first) to remove so that, with the new
    one, they keep `limit`."""
    return subscriptions[: max(0, len(subscriptions) - limit + 1)]


@router.delete(
    "/v1/customers/{customer_id}/push-subscriptions",
    summary="Remove a browser's push subscription",
    description="Records `push.unsubscribed` for the subscription with this `endpoint` (404 if the customer "
    "has none with it).",
    responses=problem_responses(401, 403, 404, 410, 422),
)
async def delete_push_subscription(
    customer_id: CustomerPath,
    endpoint: Annotated[
        str, Query(min_length=1, max_length=MAX_ENDPOINT_CHARS, description="Its endpoint URL.")
    ],
    _: EventsWriter,
    engine: EngineDep,
    store: StoreDep,
) -> PushSubscriptionRecorded:
    if (problem := clean_text_problem(endpoint)) is not None:
        raise invalid(f"endpoint {problem}", [FieldError(field="endpoint", reason=problem)])
    await _writable_customer(engine, customer_id)
    async with engine.connect() as conn:
        known = await subscription_at(conn, endpoint)
    if known is None or known.customer_id != customer_id:
        raise not_found("push subscription", endpoint, field="endpoint")
    event = NewEvent(
        event_id=uuid.uuid4(),
        type="push.unsubscribed",
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source=SOURCE,
        payload={"endpoint": endpoint, "reason": "unsubscribed by the customer"},
    )
    [result] = await store.append([event])
    return PushSubscriptionRecorded(
        customer_id=customer_id, endpoint=endpoint, event_id=result.event_id, position=result.position
    )


class ApplicationServerKey(BaseModel):
    application_server_key: str = Field(
        description="base64url of the VAPID public key (P-256): the browser subscribes with "
        "`pushManager.subscribe({userVisibleOnly: true, applicationServerKey: <it>})`."
    )


@router.get(
    "/v1/push/application-server-key",
    summary="The key browsers subscribe to push with",
    description="Push services accept messages for a subscription only when signed by the key it was "
    "made with (VAPID, RFC 8292): the page that subscribes a browser passes this key.",
    responses=problem_responses(401, 403),
)
async def get_application_server_key(_: EventsWriter, settings: SettingsDep) -> ApplicationServerKey:
    return ApplicationServerKey(application_server_key=application_server_key(vapid_signer(settings)))
