"""Sealed personal fields: bound to their customer and field, unreadable once the key is gone."""

from __future__ import annotations

import secrets

import pytest
from cryptography.exceptions import InvalidTag

from gridjourney.privacy.fields import has_sealed_fields, open_sealed, seal

PROFILE = {"name": "Ada Byron", "phone": "+15035550100", "email": None, "locale": "en"}


def test_sealed_fields_open_with_the_customers_key() -> None:
    key = secrets.token_bytes(32)
    sealed = seal("customer.created", "c-1", PROFILE, key)
    assert has_sealed_fields("customer.created", sealed)
    assert "Ada" not in str(sealed) and sealed["email"] is None and sealed["locale"] == "en"
    assert open_sealed("customer.created", "c-1", sealed, key) == PROFILE


def test_a_sealed_value_cannot_be_moved_to_another_customer_or_field() -> None:
    key = secrets.token_bytes(32)
    sealed = seal("customer.created", "c-1", PROFILE, key)
    with pytest.raises(InvalidTag):
        open_sealed("customer.created", "c-2", sealed, key)
    swapped = sealed | {"name": sealed["phone"]}
    with pytest.raises(InvalidTag):
        open_sealed("customer.created", "c-1", swapped, key)


def test_without_the_key_fields_read_as_erased() -> None:
    key = secrets.token_bytes(32)
    profile = open_sealed("customer.created", "c-1", seal("customer.created", "c-1", PROFILE, key), None)
    assert (profile["name"], profile["phone"], profile["locale"]) == (None, None, "en")
    failed = {"idempotency_key": "k", "reason": "twilio 400: 'To' +15035550100 is not valid"}
    assert open_sealed("message.failed", "c-1", seal("message.failed", "c-1", failed, key), None) == {
        "idempotency_key": "k",
        "reason": "erased",  # the schema requires a reason
    }
