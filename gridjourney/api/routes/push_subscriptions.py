"""`POST /v1/customers/{id}/push-subscriptions`: a browser's Web Push subscription, as
PushSubscription.toJSON() gives it, recorded as `push.subscribed`; `DELETE` of one by its endpoint
records `push.unsubscribed`. The push sender reaches every subscription (gridjourney/channels/push.py).
`GET /v1/push/application-server-key`: the VAPID public key browsers subscribe with.

A subscription is checked as a push service would use it: an https endpoint, a P-256 public key that
is a point on the curve, a 16-byte auth secret. The sender posts to the endpoint from inside our
network, so an endpoint naming this machine or a private network (by address or as `localhost`) is
refused: only the embedded stack's stand-in may be local (settings.push_local_endpoints), and plain
http is allowed only there, on loopback.
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
from gridjourney.events.fields import CUSTOMER_ID_PATTERN, clean_text_problem
from gridjourney.events.models import NewEvent
from gridjourney.privacy.erasure import erased_at
from gridjourney.projections import queries
from gridjourney.projections.push_subscriptions import subscription_at

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
        host = url.hostname
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
    return host == "localhost" or host.endswith(".localhost") or (address is not None and address.is_loopback)


def _is_local(host: str) -> bool:
    """This machine or a network that is not the internet's: no push service lives there."""
    address = _literal_address(host)
    return _is_loopback(host) or (
        address is not None
        and (
            address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        )
    )


def endpoint_problem(endpoint: str, local_allowed: bool) -> str | None:
    """Why the sender must not post to this (well-formed) endpoint, or None.

    Only hosts spelled as addresses are judged: a name resolving to a private address is not."""
    url = urlsplit(endpoint)
    host = (url.hostname or "").rstrip(".")
    if url.scheme == "http" and not (local_allowed and _is_loopback(host)):
        return "must be an https URL (plain http only for the local push stand-in)"
    if _is_local(host) and not local_allowed:
        return f"must be a push service on the internet; {host} is this machine or a private network"
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
    "nothing. The endpoint is removed again when the customer or the push service says it is gone.",
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
    if (problem := endpoint_problem(body.endpoint, settings.push_local_endpoints)) is not None:
        raise invalid(f"endpoint {problem}", [FieldError(field="endpoint", reason=problem)])
    await _writable_customer(engine, customer_id)
    async with engine.connect() as conn:
        known = await subscription_at(conn, body.endpoint)
    if known is not None and (known.customer_id, known.p256dh, known.auth) == (
        customer_id,
        body.keys.p256dh,
        body.keys.auth,
    ):
        response.status_code = status.HTTP_200_OK
        return PushSubscriptionRecorded(
            customer_id=customer_id, endpoint=body.endpoint, event_id=None, position=None
        )
    event = NewEvent(
        event_id=uuid.uuid4(),
        type="push.subscribed",
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source=SOURCE,
        payload={"endpoint": body.endpoint, "p256dh": body.keys.p256dh, "auth": body.keys.auth},
    )
    [result] = await store.append([event])  # CustomerErased (erased meanwhile) answers 410
    return PushSubscriptionRecorded(
        customer_id=customer_id, endpoint=body.endpoint, event_id=result.event_id, position=result.position
    )


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
