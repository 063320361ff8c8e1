"""Personal fields of event payloads, sealed with the customer's data key (privacy/customer_keys.py).

A sealed field is stored as {"sealed": "<base64 nonce + AES-GCM ciphertext>"} in place of its value;
the customer id, event type and field name are authenticated with it, so a sealed value cannot be
moved to another customer or field. With the key destroyed (an erased customer) it reads null, or
the word "erased" where the schema requires a value.
The fingerprint of a customer's event is an HMAC under the same key: once the key is gone it says
nothing about the content either.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridjourney.privacy.keyring import NONCE_BYTES

_PROFILE: dict[str, str | None] = {"name": None, "phone": None, "email": None}
# The payload fields that hold contact data or identify a person, by event type, with what each
# reads once the customer is erased (a field the schema requires gets a word, not null).
PERSONAL_FIELDS: dict[str, dict[str, str | None]] = {
    "customer.created": _PROFILE,
    "customer.updated": _PROFILE,
    # a provider's error can quote the recipient ("the 'To' number +1503... is not valid")
    "message.failed": {"reason": "erased"},
    # so can SendGrid's words for a bounce or a drop ("550 5.1.1 <rosa@...>: Recipient address rejected")
    "message.bounced": {"reason": None},
    "message.dropped": {"reason": None},
    "message.received": {"body": "erased"},
    "suppression.added": {"address": "erased"},
    "suppression.removed": {"address": "erased"},
    "push.subscribed": {"endpoint": "erased", "auth": "erased", "p256dh": "erased"},
    "push.unsubscribed": {"endpoint": "erased"},
    # the uploaded file's name: Green Button downloads are named after the account, often the person
    "meter.reads_imported": {"file_name": None},
}
SEALED = "sealed"


def _context(customer_id: str, event_type: str, field: str) -> bytes:
    return f"{customer_id}\x00{event_type}\x00{field}".encode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def has_sealed_fields(event_type: str, payload: dict[str, Any]) -> bool:
    return any(is_sealed(payload.get(field)) for field in PERSONAL_FIELDS.get(event_type, {}))


def seal(event_type: str, customer_id: str, payload: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The payload with its personal fields sealed (null fields stay null: nothing to hide)."""
    sealed = dict(payload)
    for field in PERSONAL_FIELDS.get(event_type, {}):
        value = payload.get(field)
        if value is None:
            continue
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, str(value).encode(), _context(customer_id, event_type, field))
        sealed[field] = {SEALED: base64.b64encode(nonce + ciphertext).decode()}
    return sealed


def open_sealed(
    event_type: str, customer_id: str, payload: dict[str, Any], key: bytes | None
) -> dict[str, Any]:
    """The payload with its sealed fields opened; with no key (erased), they read as erased (null)."""
    opened = dict(payload)
    for field, erased in PERSONAL_FIELDS.get(event_type, {}).items():
        value = payload.get(field)
        if not is_sealed(value):
            continue
        if key is None:
            opened[field] = erased
            continue
        data = base64.b64decode(payload[field][SEALED])
        plaintext = AESGCM(key).decrypt(
            data[:NONCE_BYTES], data[NONCE_BYTES:], _context(customer_id, event_type, field)
        )
        opened[field] = plaintext.decode()
    return opened


def keyed_fingerprint(content: bytes, key: bytes) -> str:
    """The fingerprint of a customer's event (same length as events/fingerprint.py's digest)."""
    return hmac.digest(key, content, "sha256").hex()  # one-shot: half the cost of hmac.new per event


def without_personal_fields(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload less its personal fields: what may reach a history no erasure deletes (a cohort
    run is shared by its members: router/cohorts.py)."""
    personal = PERSONAL_FIELDS.get(event_type, {})
    return {name: value for name, value in payload.items() if name not in personal}


def personal_fields_of(event_types: Iterable[str]) -> frozenset[str]:
    """The personal fields of any of these event types (a cohort journey must not read them)."""
    return frozenset(name for event_type in event_types for name in PERSONAL_FIELDS.get(event_type, {}))
