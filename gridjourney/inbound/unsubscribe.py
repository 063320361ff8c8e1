"""Unsubscribe links: a signed token naming a customer, a channel and a purpose, and what using it does.

Every email carries one (List-Unsubscribe and a footer link, gridjourney/channels/email.py); a POST
to `/u/{token}` (gridjourney/api/routes/unsubscribe.py) records `consent.changed` with `granted`
false and method `unsubscribe_link` for exactly that channel and purpose. No login: the signature is
the proof. The signing secrets are derived from the encryption keys (one per listed key, the active
one signing), so every process of a deployment agrees on them and a key rotation keeps the links
already sent working for as long as the old key stays listed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from itsdangerous import BadData, URLSafeSerializer

from gridjourney.activities import ledger
from gridjourney.config import Settings, public_base_url
from gridjourney.events.fields import CUSTOMER_ID_PATTERN
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.events.types import Channel, Purpose
from gridjourney.inbound import queries
from gridjourney.privacy.keyring import keyring_from_settings

SALT = "gridjourney.unsubscribe"
SECRET_LABEL = b"gridjourney unsubscribe links"
SOURCE = "gridjourney.unsubscribe"
METHOD = "unsubscribe_link"
PATH = "/u/"
# uuid5 namespace of the consent events links record: one per (customer, channel, purpose, prior state).
EVENT_NAMESPACE = uuid.UUID("3f0a6c2e-58b1-4d7e-9c4a-7e21b5d90f13")
CHANNELS: tuple[str, ...] = get_args(Channel)
PURPOSES: tuple[str, ...] = get_args(Purpose)


class InvalidUnsubscribeToken(ValueError):
    """The token was not signed by this deployment, was altered, or names nothing we know."""


@dataclass(frozen=True)
class Unsubscribe:
    customer_id: str
    channel: Channel
    purpose: Purpose


def link_secrets(settings: Settings) -> list[bytes]:
    """One secret per encryption key, the active key's last (itsdangerous signs with the last)."""
    keyring = keyring_from_settings(settings)
    ordered = [key_id for key_id in sorted(keyring.keys) if key_id != keyring.active_id]
    ordered.append(keyring.active_id)
    return [hmac.new(keyring.keys[key_id], SECRET_LABEL, hashlib.sha256).digest() for key_id in ordered]


class UnsubscribeLinks:
    """Makes and reads the tokens; `url` is the link the API serves."""

    def __init__(self, secrets: list[bytes], base_url: str) -> None:
        self._serializer = URLSafeSerializer(secrets, salt=SALT)
        self.base_url = base_url.rstrip("/")

    def token(self, customer_id: str, channel: Channel, purpose: Purpose) -> str:
        return str(self._serializer.dumps([customer_id, channel, purpose]))

    def url(self, customer_id: str, channel: Channel, purpose: Purpose) -> str:
        return self.url_of(self.token(customer_id, channel, purpose))

    def url_of(self, token: str) -> str:
        return f"{self.base_url}{PATH}{token}"

    def read(self, token: str) -> Unsubscribe:
        try:
            content = self._serializer.loads(token)
        except BadData:
            raise InvalidUnsubscribeToken(
                "not a valid unsubscribe link: it was altered or not issued here"
            ) from None
        return _unsubscribe(content)


def _unsubscribe(content: object) -> Unsubscribe:
    # Signed by us, so this only fails for links issued by a differently shaped version.
    if (
        isinstance(content, list)
        and len(content) == 3
        and all(isinstance(part, str) for part in content)
        and re.match(CUSTOMER_ID_PATTERN, content[0])
        and content[1] in CHANNELS
        and content[2] in PURPOSES
    ):
        return Unsubscribe(content[0], content[1], content[2])
    raise InvalidUnsubscribeToken("the unsubscribe link names no customer, channel and purpose")


def unsubscribe_links(settings: Settings) -> UnsubscribeLinks:
    return UnsubscribeLinks(link_secrets(settings), public_base_url(settings))


async def record_unsubscribe(store: EventStore, request: Unsubscribe, now: datetime) -> bool:
    """Record the revocation unless the customer's consent for it is already revoked. True when an
    event was recorded. Under the customer's lock (activities/ledger.py), like the sends and the SMS
    replies: two clicks at once record one event, and a send decision waits for the revocation."""
    async with store.engine.begin() as conn:
        await ledger.lock_customer(conn, request.customer_id)
        latest = await queries.latest_consent(conn, request.customer_id, request.channel, request.purpose)
        if latest is not None and not latest[1]:
            return False
        after = 0 if latest is None else latest[0]
        name = f"{request.customer_id}:{request.channel}:{request.purpose}:after:{after}"
        event = NewEvent(
            event_id=uuid.uuid5(EVENT_NAMESPACE, name),
            type="consent.changed",
            customer_id=request.customer_id,
            occurred_at=now,
            source=SOURCE,
            payload={
                "channel": request.channel,
                "purpose": request.purpose,
                "granted": False,
                "method": METHOD,
            },
        )
        await store.append_in(conn, [event])
    return True
