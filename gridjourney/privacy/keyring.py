"""The encryption keys from settings, by key id: one active key encrypts, every listed key decrypts.

Rotation: add a new key id to GRIDJOURNEY_ENCRYPTION_KEYS, make it GRIDJOURNEY_ENCRYPTION_KEY_ID, and
keep the old ids listed as long as anything they encrypted must stay readable (Temporal histories,
wrapped customer keys). The embedded stack generates its key once and keeps it under its home folder,
so a restart still reads what the previous run wrote.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridjourney.config import Settings, get_settings

KEY_BYTES = 32
NONCE_BYTES = 12
EMBEDDED_KEY_FILE = "encryption-keys.json"
EMBEDDED_KEY_ID = "embedded-1"


class KeyConfigurationError(ValueError):
    """The settings name no usable key; the message says which setting to fix and how."""


class UnknownKeyId(KeyError):
    """Data was encrypted with a key id the settings no longer list."""


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, bytes]
    active_id: str

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyConfigurationError(
                f"GRIDJOURNEY_ENCRYPTION_KEY_ID={self.active_id!r} is not among the configured keys "
                f"({', '.join(sorted(self.keys)) or 'none'})"
            )

    @cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        # One cipher per key, built once: building one costs about as much CPU as the decryption
        # itself, and every append unwraps its customers' data keys (privacy/customer_keys.py).
        return {key_id: AESGCM(key) for key_id, key in self.keys.items()}

    def encrypt(self, plaintext: bytes, context: bytes = b"") -> tuple[str, bytes]:
        """(key id, nonce + ciphertext) under the active key. `context` is authenticated, not stored."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self.active_id].encrypt(nonce, plaintext, self.active_id.encode() + context)
        return self.active_id, nonce + sealed

    def decrypt(self, key_id: str, sealed: bytes, context: bytes = b"") -> bytes:
        """Raises UnknownKeyId, or cryptography's InvalidTag when the data or its context was altered."""
        try:
            cipher = self._ciphers[key_id]
        except KeyError:
            raise UnknownKeyId(
                f"data is encrypted with key id {key_id!r}, which GRIDJOURNEY_ENCRYPTION_KEYS does not list"
            ) from None
        return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id.encode() + context)


def generate_key() -> str:
    """A new key, base64-encoded as GRIDJOURNEY_ENCRYPTION_KEYS expects it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyConfigurationError(
            f"GRIDJOURNEY_ENCRYPTION_KEYS[{key_id!r}] must be the base64 of {KEY_BYTES} random bytes "
            '(make one: python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())")'
        )
    return key


def _embedded_keys(home: Path) -> dict[str, str]:
    """The embedded stack's keys, created once (owner-only file) and read back on every start."""
    path = home / EMBEDDED_KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        document = json.dumps({EMBEDDED_KEY_ID: generate_key()})
        # O_EXCL: two processes starting at once must not each write a different key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(document)
    keys: dict[str, str] = json.loads(path.read_text())
    return keys


def keyring_from_settings(settings: Settings) -> Keyring:
    """Raises KeyConfigurationError when a configured (non-embedded) database has no keys."""
    if settings.encryption_keys:
        encoded = {key_id: secret.get_secret_value() for key_id, secret in settings.encryption_keys.items()}
    elif settings.database_url is None:
        encoded = _embedded_keys(settings.home)
    else:
        raise KeyConfigurationError(
            "GRIDJOURNEY_ENCRYPTION_KEYS is not set: with a configured database (GRIDJOURNEY_DATABASE_URL) "
            "personal data must be encrypted with keys you keep, e.g. "
            'GRIDJOURNEY_ENCRYPTION_KEYS=\'{"k1": "<base64 of 32 random bytes>"}\''
        )
    keys = {key_id: _decode_key(key_id, value) for key_id, value in encoded.items()}
    active = settings.encryption_key_id
    if active is None:
        if len(keys) > 1:
            raise KeyConfigurationError(
                "GRIDJOURNEY_ENCRYPTION_KEYS lists several keys: name the one to encrypt with in "
                "GRIDJOURNEY_ENCRYPTION_KEY_ID"
            )
        active = next(iter(keys))
    return Keyring(keys, active)


@lru_cache
def process_keyring() -> Keyring:
    """The keyring of this process's settings (get_settings()), built once."""
    return keyring_from_settings(get_settings())
