"""RFC 8291 message encryption (channels/push_encryption.py), decrypted by an independent
implementation: http_ece, through the push stand-in's browser (PushSubscriber.decrypt)."""

from __future__ import annotations

import struct

import pytest

from gridjourney.channels.push_encryption import RECORD_SIZE, encrypt
from gridjourney.channels.push_standin import PushSubscriber, b64url, new_subscriber

NOTICE = b'{"title":"Peak Time Rewards","body":"Tomorrow 5-8 PM: shift your use.","url":null}'


@pytest.fixture
def browser() -> PushSubscriber:
    return new_subscriber("http://127.0.0.1:9")


def test_the_browser_decrypts_what_was_encrypted_to_it(browser: PushSubscriber) -> None:
    body = encrypt(NOTICE, browser.p256dh, browser.auth)
    assert NOTICE not in body
    assert browser.decrypt(body) == NOTICE
    assert browser.decrypt(encrypt("Corte de energía ⚡".encode(), browser.p256dh, browser.auth)) == (
        "Corte de energía ⚡".encode()
    )


def test_the_header_carries_salt_record_size_and_a_new_sender_key_each_time(browser: PushSubscriber) -> None:
    first, second = (encrypt(NOTICE, browser.p256dh, browser.auth) for _ in range(2))
    for body in (first, second):
        record_size, key_length = struct.unpack("!IB", body[16:21])
        assert (record_size, key_length) == (RECORD_SIZE, 65)
        assert body[21] == 0x04  # an uncompressed P-256 point
        # one record: the text, its delimiter and the 16-byte tag
        assert len(body) == 16 + 5 + 65 + len(NOTICE) + 1 + 16
    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # ephemeral key


def test_another_browser_cannot_decrypt(browser: PushSubscriber) -> None:
    other = new_subscriber("http://127.0.0.1:9")
    body = encrypt(NOTICE, browser.p256dh, browser.auth)
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises InvalidTag (cryptography's)
        other.decrypt(body)


@pytest.mark.parametrize(
    ("p256dh", "auth", "says"),
    [
        ("BAAA", None, "p256dh is not a P-256 point"),
        ("not base64url!", None, "p256dh is not base64url"),
        (None, b64url(b"short"), "auth secret has 5 bytes"),
    ],
)
def test_unusable_keys_are_a_value_error(
    browser: PushSubscriber, p256dh: str | None, auth: str | None, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        encrypt(NOTICE, p256dh or browser.p256dh, auth or browser.auth)
