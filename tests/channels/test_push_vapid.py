"""VAPID tokens: one per push service, valid for RFC 8292's push services, renewed before expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from py_vapid import Vapid

from gridjourney.channels.push_standin import VapidRefused, verify_vapid
from gridjourney.channels.push_vapid import VapidTokens

SUBJECT = "mailto:alerts@utility.example"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def tokens(clock: Clock) -> VapidTokens:
    key = Vapid()
    key.generate_keys()
    return VapidTokens(
        key, SUBJECT, lifetime=timedelta(hours=12), renew_before=timedelta(hours=1), clock=clock
    )


def test_one_token_serves_every_push_to_one_push_service_and_each_service_has_its_own() -> None:
    clock = Clock()
    vapid = tokens(clock)
    first = vapid.headers("https://push.example.net/push/a")
    assert vapid.headers("https://push.example.net/push/b") == first
    other = vapid.headers("https://fcm.example.com/send/c")
    assert other != first and vapid.signed == 2
    # Each is what that push service checks: its own origin as the audience, from our key.
    now = datetime.fromtimestamp(clock.now, UTC)
    assert verify_vapid(first["Authorization"], "https://push.example.net", now)[0] == SUBJECT
    assert verify_vapid(other["Authorization"], "https://fcm.example.com", now)[0] == SUBJECT
    with pytest.raises(VapidRefused):
        verify_vapid(first["Authorization"], "https://fcm.example.com", now)


def test_a_token_is_renewed_an_hour_before_it_expires() -> None:
    clock = Clock()
    vapid = tokens(clock)
    first = vapid.headers("https://push.example.net/push/a")
    clock.now += timedelta(hours=10, minutes=59).total_seconds()
    assert vapid.headers("https://push.example.net/push/a") == first and vapid.signed == 1
    clock.now += timedelta(minutes=1).total_seconds()
    renewed = vapid.headers("https://push.example.net/push/a")
    assert renewed != first and vapid.signed == 2
    # Still valid for the push service at the last moment it is used.
    clock.now += timedelta(hours=10, minutes=59).total_seconds()
    verify_vapid(renewed["Authorization"], "https://push.example.net", datetime.fromtimestamp(clock.now, UTC))


def test_a_token_renewed_no_earlier_than_its_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="renewed before it expires"):
        VapidTokens(Vapid(), SUBJECT, lifetime=timedelta(hours=1), renew_before=timedelta(hours=1))
