"""The SendGrid stand-in's address check: its quick path for plain addresses agrees with
email_validator, which decides every other address."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from gridjourney.channels.sendgrid_standin_checks import _plainly_valid, _valid_address

ADDRESSES = [
    "c000123@example.com",
    "first.last+dr@mail.utility.co.uk",
    "a_b-c@x-y.org",
    "ops@grid.test",  # allowed: the stand-in runs as a test environment
    "ops@localhost",
    "ops@meter.local",
    "ops@host.invalid",
    "ops@x.onion",
    "ops@in-addr.arpa",
    "ops@example",
    "ops@example.c0m",
    "ops@example.123",
    "ops@-example.com",
    "ops@example-.com",
    "ops@xn--bcher-kva.example",
    "ops@xn--zzzz.example",
    ".ops@example.com",
    "ops.@example.com",
    "o..ps@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "ops@" + "a" * 63 + ".com",
    "ops@" + "a" * 64 + ".com",
    "ops@" + ".".join(["a" * 60] * 4) + ".com",
    "ops@" + ".".join(["a" * 60] * 5) + ".com",
    "müller@example.de",
    "ops@bücher.example",
    '"quoted"@example.com',
    "ops@[192.0.2.1]",
    "no-at-sign.example.com",
    "",
]


def _validator_accepts(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_quick_path_agrees_with_email_validator(address: str) -> None:
    assert _valid_address(address) == _validator_accepts(address)
    if _plainly_valid(address):
        assert _validator_accepts(address)


def test_ordinary_addresses_take_the_quick_path() -> None:
    assert all(_plainly_valid(a) for a in ("c000123@example.com", "first.last+dr@mail.utility.co.uk"))
