"""Suppressed addresses that outlive their holder, without keeping the address in the clear.

A STOP (or a hard bounce, a carrier opt-out) belongs to the number or address, not only to the
customer who had it: when that customer is erased, or when a number no customer has sends STOP, the
address stays suppressed for whoever holds it later, until a START from it. It is kept as a keyed
hash: HMAC-SHA256 under a key derived from the deployment's encryption keys
(GRIDJOURNEY_ENCRYPTION_KEYS) of the channel and the normalised address, so the database and the log
hold no number or email of an erased customer, and without the keys the hash cannot be tested
against a list of numbers. The hash names the key id it was made with; a check computes it under
every configured key, so a key rotation (the old key kept, as it must be for old payloads) keeps
them.

These suppressions are rows (and events) of the reserved customer id `ANYONE`
(projections/suppressions.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from gridjourney.events.models import ENGINE_CUSTOMER_PREFIX
from gridjourney.privacy.keyring import Keyring, process_keyring

# reserved (events/models.py ENGINE_CUSTOMER_PREFIX: the API refuses such ids): the customer id of
# address-wide suppressions
ANYONE = f"{ENGINE_CUSTOMER_PREFIX}anyone"
PREFIX = "hmac-sha256:"
# Domain separation: the HMAC key is derived from, never equal to, an AES-GCM payload key.
_DERIVATION = b"gridjourney suppressed address v1"


def normalised(channel: str, address: str) -> str:
    """The form that is hashed: emails compare without case, numbers (E.164) without spaces."""
    stripped = "".join(address.split()) if channel == "sms" else address.strip()
    return stripped.lower() if channel == "email" else stripped


def is_address_hash(address: str) -> bool:
    return address.startswith(PREFIX)


def _digest(key: bytes, channel: str, address: str) -> str:
    derived = hmac.digest(key, _DERIVATION, hashlib.sha256)
    message = f"{channel}\x00{normalised(channel, address)}".encode()
    return hmac.digest(derived, message, hashlib.sha256).hex()


def address_hash(channel: str, address: str, keyring: Keyring | None = None) -> str:
    """The address's hash under the active key, as it is stored."""
    keys = keyring or process_keyring()
    return f"{PREFIX}{keys.active_id}:{_digest(keys.keys[keys.active_id], channel, address)}"


def address_hashes(channel: str, address: str, keyring: Keyring | None = None) -> list[str]:
    """The address's hash under every configured key: what a check looks for."""
    keys = keyring or process_keyring()
    return [f"{PREFIX}{key_id}:{_digest(key, channel, address)}" for key_id, key in keys.keys.items()]


def held_suppressions(
    held: Iterable[tuple[str, str]],
    suppressed_for_anyone: Mapping[tuple[str, str], str],
    keyring: Keyring | None = None,
) -> dict[tuple[str, str], str]:
    """Which of the addresses a customer holds, (channel, address), are suppressed for anyone who
    holds them, given those suppressions as (channel, hash) → reason: (channel, address) → reason.
    A backtest's fold (backtest/customers.py) asks this of its in-memory state; the sender's look-up
    (projections/suppressions.py) asks Postgres for the same hashes (address_hashes, every key)."""
    found: dict[tuple[str, str], str] = {}
    for channel, address in held:
        for hashed in address_hashes(channel, address, keyring):
            reason = suppressed_for_anyone.get((channel, hashed))
            if reason is not None:
                found[(channel, address)] = reason
                break
    return found
