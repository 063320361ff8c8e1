"""held_suppressions: which of a customer's addresses are suppressed for anyone who holds them, found
by their keyed hashes under every configured key (a rotation keeps them), in their normalised form."""

from __future__ import annotations

from gridjourney.privacy.address_hash import address_hash, held_suppressions
from gridjourney.privacy.keyring import Keyring

OLD = Keyring({"k1": b"1" * 32}, "k1")
ROTATED = Keyring({"k1": b"1" * 32, "k2": b"2" * 32}, "k2")


def test_a_hash_made_under_an_old_key_still_suppresses_the_address_after_a_rotation() -> None:
    kept = {
        ("sms", address_hash("sms", "+15035550101", OLD)): "stop_reply",
        ("email", address_hash("email", "Rosa@Example.com", ROTATED)): "hard_bounce",
    }
    held = [("sms", "+1 503 555 0101"), ("email", "rosa@example.com"), ("sms", "+15035550102")]
    assert held_suppressions(held, kept, ROTATED) == {
        ("sms", "+1 503 555 0101"): "stop_reply",
        ("email", "rosa@example.com"): "hard_bounce",
    }


def test_a_hash_counts_for_its_own_channel_only() -> None:
    kept = {("email", address_hash("sms", "+15035550101", OLD)): "hard_bounce"}
    assert held_suppressions([("sms", "+15035550101")], kept, OLD) == {}
