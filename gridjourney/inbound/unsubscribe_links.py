"""Unsubscribe links: a signed token naming a customer, a channel and a purpose (what using one does:
gridjourney/inbound/unsubscribe.py).

The signing secrets are derived from the encryption keys (one per listed key, the active one
signing), so every process of a deployment agrees on them and a key rotation keeps the links already
sent working for as long as the old key stays listed.

Tokens are base64url JSON and an HMAC, never compressed: zlib cost more than the rest of a cohort
email (about 0.6 ms a token) and saves nothing on three short names. itsdangerous's URL-safe tokens
compress only when that is shorter, so a token made before is either the same bytes as now or
marked compressed (a leading "."), which `read` still takes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, get_args

from itsdangerous import BadData, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from gridjourney.config import Settings, public_base_url
from gridjourney.events.fields import CUSTOMER_ID_PATTERN
from gridjourney.events.types import Channel, Purpose
from gridjourney.privacy.keyring import keyring_from_settings

SALT = "gridjourney.unsubscribe"
SECRET_LABEL = b"gridjourney unsubscribe links"
PATH = "/u/"
CHANNELS: tuple[str, ...] = get_args(Channel)
PURPOSES: tuple[str, ...] = get_args(Purpose)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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


class _PreparedSigner(Signer):
    """itsdangerous's Signer with its signing key derived and its HMAC keyed once, not per token.
    Verifying is the Signer's own (every listed key)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mac = hmac.new(self.derive_key(), digestmod=self.digest_method)

    def get_signature(self, value: str | bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(value.encode() if isinstance(value, str) else value)
        return base64_encode(mac.digest())


class _UncompressedSerializer(URLSafeSerializer):
    """itsdangerous's URL-safe serializer that never compresses what it signs (it still reads
    compressed payloads) and signs with one Signer instead of a new one per token."""

    # `default_signer`, not `signer`: the serializer's __init__ sets its `signer` from this one.
    default_signer = _PreparedSigner
    _signer: Signer | None = None

    def dump_payload(self, obj: object) -> bytes:
        # Serializer.dump_payload's compact JSON (itsdangerous/_json.py) from one encoder, not a new
        # encoder per token.
        return base64_encode(_COMPACT_JSON.encode(obj).encode())

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None and salt != self.salt:
            return super().make_signer(salt)
        if self._signer is None:
            self._signer = super().make_signer(self.salt)
        return self._signer


class UnsubscribeLinks:
    """Makes and reads the tokens; `url` is the link the API serves."""

    def __init__(self, secrets: list[bytes], base_url: str) -> None:
        self._serializer = _UncompressedSerializer(secrets, salt=SALT)
        self._signer = self._serializer.make_signer()
        self.base_url = base_url.rstrip("/")

    def token(self, customer_id: str, channel: Channel, purpose: Purpose) -> str:
        # The serializer's dumps, with its signer looked up once.
        return self._signer.sign(self._serializer.dump_payload([customer_id, channel, purpose])).decode()

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
