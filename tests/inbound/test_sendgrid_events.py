"""Event Webhook rows → events (pure): which rows count, the ids they get, and the signature checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridjourney.inbound.sendgrid_events import (
    VerificationKeyInvalid,
    WebhookRefused,
    events_from_rows,
    verify,
)
from gridjourney.inbound.sendgrid_keys import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    public_key_text,
    sign_payload,
)

NOW = datetime(2026, 7, 14, 22, 0, tzinfo=UTC)
OURS = {"gridjourney_key": "k1", "gridjourney_customer": "c1", "email": "ana@example.org"}


def row(event: str, sg_event_id: str = "e1", **extra: Any) -> dict[str, Any]:
    return {**OURS, "event": event, "sg_event_id": sg_event_id, "timestamp": 1784066400, **extra}


def test_rows_become_events_with_ids_from_sg_event_id() -> None:
    first = events_from_rows([row("delivered", "e1"), row("open", "e2")])
    again = events_from_rows([row("delivered", "e1"), row("open", "e2")])
    assert [e.type for e in first.events] == ["message.delivered", "message.opened"]
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert first.events[0].event_id != first.events[1].event_id
    assert first.events[0].occurred_at == datetime.fromtimestamp(1784066400, UTC)
    assert first.events[0].customer_id == "c1" and first.skipped == 0


def test_rows_that_are_not_ours_or_do_not_fit_are_skipped() -> None:
    made = events_from_rows(
        [
            row("processed"),  # a kind the engine does not track
            row("deferred"),
            {"event": "delivered", "sg_event_id": "x"},  # no custom_args: not our message
            {**row("delivered"), "gridjourney_customer": "not a customer id!"},
            {**row("delivered"), "sg_event_id": None},
            "not a row",
            row("delivered", timestamp="soon"),  # its time would be made up, and differ on a retry
            row("delivered", "e9"),
        ],
    )
    assert made.skipped == 7
    assert [e.type for e in made.events] == ["message.delivered"]


def test_only_hard_bounces_and_spam_reports_suppress() -> None:
    made = events_from_rows(
        [
            row("bounce", "b1", type="bounce"),
            row("bounce", "b2", type="blocked"),
            row("spamreport", "s1"),
            row("dropped", "d1", reason="Bounced Address"),
        ],
    )
    assert [(e.type, e.payload.get("reason")) for e in made.events] == [
        ("message.bounced", None),
        ("suppression.added", "hard_bounce"),
        ("message.bounced", None),
        ("message.spam_reported", None),
        ("suppression.added", "spam_report"),
        ("message.dropped", "Bounced Address"),
    ]
    assert made.events[2].payload["bounce_type"] == "blocked"


KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = public_key_text(KEY)
BODY = b'[{"event":"delivered"}]'
MAX_AGE = timedelta(minutes=10)


def test_a_fresh_signed_request_verifies() -> None:
    timestamp = str(int(NOW.timestamp()))
    verify(PUBLIC, BODY, sign_payload(KEY, timestamp, BODY), timestamp, NOW, MAX_AGE)


@pytest.mark.parametrize(
    ("signature", "timestamp", "header"),
    [
        (None, "1784066400", SIGNATURE_HEADER),
        ("sig", None, TIMESTAMP_HEADER),
        ("sig", "yesterday", TIMESTAMP_HEADER),
        ("sig", str(int((NOW - MAX_AGE - timedelta(seconds=1)).timestamp())), TIMESTAMP_HEADER),
        ("%%%", str(int(NOW.timestamp())), SIGNATURE_HEADER),
        (sign_payload(KEY, "1", BODY), str(int(NOW.timestamp())), SIGNATURE_HEADER),
    ],
    # Named, not by value: the signature differs each run, and pytest-xdist's workers must collect
    # the same test ids.
    ids=["no-signature", "no-timestamp", "timestamp-not-a-number", "stale", "not-base64", "other-timestamp"],
)
def test_unsigned_stale_and_forged_requests_are_refused(
    signature: str | None, timestamp: str | None, header: str
) -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify(PUBLIC, BODY, signature, timestamp, NOW, MAX_AGE)
    assert refused.value.header == header


def test_a_misconfigured_key_is_its_own_error() -> None:
    timestamp = str(int(NOW.timestamp()))
    with pytest.raises(VerificationKeyInvalid):
        verify("bm90IGEga2V5", BODY, sign_payload(KEY, timestamp, BODY), timestamp, NOW, MAX_AGE)
