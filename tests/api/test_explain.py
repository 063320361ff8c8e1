"""Timeline lines of send decisions, provider reports and consent changes, in words."""

from __future__ import annotations

from typing import Any

import pytest

from gridjourney.api.explain import explain

ALERT = {"idempotency_key": "k1", "journey_id": "high_bill_alert", "template": "high_bill_alert"}


def deferred(until: str, zone: str) -> dict[str, Any]:
    return {**ALERT, "until": until, "time_zone": zone, "reason": "sms: quiet_hours"}


@pytest.mark.parametrize(
    ("until", "zone", "line"),
    [
        (
            "2026-12-01T14:00:00+00:00",
            "America/Chicago",
            "deferred to 08:00 America/Chicago by quiet hours (Tue 2026-12-01",
        ),
        # the spring change (2026-03-08): New York is on UTC-4 at once, Phoenix stays on UTC-7
        (
            "2026-03-08T13:00:00+00:00",
            "America/New_York",
            "deferred to 09:00 America/New_York by quiet hours (Sun 2026-03-08",
        ),
        (
            "2026-03-08T16:00:00+00:00",
            "America/Phoenix",
            "deferred to 09:00 America/Phoenix by quiet hours (Sun 2026-03-08",
        ),
        (
            "2026-11-01T14:00:00+00:00",
            "America/New_York",
            "deferred to 09:00 America/New_York by quiet hours (Sun 2026-11-01",
        ),
        (
            "2026-07-01T18:00:00+00:00",
            "Pacific/Honolulu",
            "deferred to 08:00 Pacific/Honolulu by quiet hours (Wed 2026-07-01",
        ),
    ],
)
def test_a_deferral_reads_in_the_zone_it_was_judged_in(until: str, zone: str, line: str) -> None:
    assert explain("message.deferred", deferred(until, zone)) == f"{line}, high_bill_alert)"


@pytest.mark.parametrize(
    ("reason", "revoked_by", "line"),
    [
        ("sms: frequency_cap (3 informational sms in 7d)", {}, "capped: 3 informational SMS in 7 days"),
        (
            "sms: frequency_cap (1 marketing sms in 1d); "
            "email: frequency_cap (5 marketing messages in 1d12h)",
            {},
            "capped: 1 marketing SMS in 1 day; 5 marketing messages in 1 day 12 hours",
        ),
        ("sms: consent_revoked", {"sms": "sms_reply"}, "not sent: consent revoked by SMS reply"),
        (
            "email: consent_revoked",
            {"email": "unsubscribe_link"},
            "not sent: consent revoked by unsubscribe link",
        ),
        ("sms: consent_revoked", {"sms": "call"}, "not sent: consent revoked (call)"),
        ("sms: consent_revoked", {}, "not sent: consent revoked"),
        (
            "sms: consent_revoked; email: frequency_cap (2 marketing email in 7d)",
            {"sms": "sms_reply"},
            "not sent: SMS consent revoked by SMS reply; email capped: 2 marketing emails in 7 days",
        ),
        ("email: suppressed_address (hard_bounce)", {}, "not sent: email address suppressed (hard bounce)"),
        (
            "sms: suppressed_address (stop_reply); email: no_consent",
            {},
            "not sent: SMS address suppressed (stop reply); no email consent",
        ),
        (
            "sms: no_contact_point; push: no_contact_point (no push subscription)",
            {},
            "not sent: SMS no phone number; no push subscription",
        ),
        ("sms: no_consent", {}, "not sent: no SMS consent"),
        (
            "sms: no_sending_hours (the step's 22:00-23:00 lies outside informational hours 08:00-21:00)",
            {},
            "not sent: no sending hours: the step's 22:00-23:00 lies outside informational hours 08:00-21:00",
        ),
    ],
)
def test_a_suppression_says_why_in_words(reason: str, revoked_by: dict[str, str], line: str) -> None:
    assert (
        explain("message.suppressed", {**ALERT, "reason": reason}, revoked_by) == f"{line} (high_bill_alert)"
    )


def test_a_reason_from_before_the_policy_reads_as_it_was_recorded() -> None:
    payload = {**ALERT, "channel": "sms", "reason": "no sms consent for marketing"}
    assert (
        explain("message.suppressed", payload)
        == "message suppressed: no sms consent for marketing (sms, high_bill_alert)"
    )
    assert explain("message.suppressed", {**payload, "reason": "quiet_hours"}).startswith(
        "message suppressed: quiet_hours"
    )


def test_provider_reports() -> None:
    email = {**ALERT, "channel": "email"}
    assert explain("message.delivered", {**ALERT, "channel": "sms"}) == "sms delivered (high_bill_alert)"
    assert explain("message.bounced", {**email, "bounce_type": "hard", "reason": "550 unknown user"}) == (
        "email bounced (hard): 550 unknown user (high_bill_alert)"
    )
    assert explain("message.undelivered", {**ALERT, "channel": "sms", "error_code": "30003"}) == (
        "sms undelivered: error 30003 (high_bill_alert)"
    )
    assert (
        explain("message.dropped", {**email, "reason": "Bounced Address"})
        == "email dropped: Bounced Address (high_bill_alert)"
    )
    assert explain("message.opened", email) == "email opened (high_bill_alert)"
    assert (
        explain("message.clicked", {**email, "url": "https://example.com/t/secret"})
        == "email link clicked (high_bill_alert)"
    )
    assert explain("message.spam_reported", email) == "email reported as spam (high_bill_alert)"
    assert (
        explain("message.received", {"channel": "sms", "body": "out please", "keyword": "OUT"})
        == "sms reply received (first word: OUT)"
    )


def test_consent_changes_say_how() -> None:
    stop = {"channel": "sms", "purpose": "informational", "granted": False, "method": "sms_reply"}
    assert (
        explain("consent.changed", stop)
        == "opted out by reply STOP: sms consent for informational messages revoked"
    )
    assert explain("consent.changed", {**stop, "granted": True}).startswith("opted in by reply START")
    link = {"channel": "email", "purpose": "marketing", "granted": False, "method": "unsubscribe_link"}
    assert (
        explain("consent.changed", link)
        == "unsubscribed by link: email consent for marketing messages revoked"
    )
    web = {**link, "granted": True, "method": "web"}
    assert explain("consent.changed", web) == "granted email consent for marketing messages (web)"


def test_suppression_list_changes_never_show_the_address() -> None:
    added = {"channel": "email", "address": "ada@example.com", "reason": "hard_bounce", "source": "sendgrid"}
    line = explain("suppression.added", added)
    assert line == "email address put on the suppression list: hard bounce (reported by sendgrid)"
    removed = explain("suppression.removed", {"channel": "email", "address": "ada@example.com"})
    assert "ada@example.com" not in removed and removed == "email address taken off the suppression list"


def test_a_payload_missing_a_field_still_gives_a_line() -> None:
    assert explain("message.deferred", {"idempotency_key": "k1"}) == "message deferred"


def test_every_built_in_event_type_has_a_line_of_its_own() -> None:
    from gridjourney.api.explain import LINES
    from gridjourney.events.types import EVENT_TYPES

    assert set(EVENT_TYPES) - set(LINES) == {"message.suppressed"}  # it reads the consents too: explain()


@pytest.mark.parametrize(
    ("event_type", "payload", "line"),
    [
        ("program.enrolled", {"program": "peak_time_rewards"}, "enrolled in program peak_time_rewards"),
        ("program.unenrolled", {"program": "peak_time_rewards"}, "left program peak_time_rewards"),
        (
            "meter.reads_imported",
            {
                "format": "csv",
                "reads_in_file": 744,
                "reads_stored": 24,
                "first_read_at": "a",
                "last_read_at": "b",
            },
            "meter reads imported: 24 new of 744 in the file (csv, a to b)",
        ),
        (
            "dr.event_modified",
            {"dr_event_id": "PTR-1", "modification_number": 2, "start": "s", "end": "e"},
            "demand-response event PTR-1 changed (modification 2): now from s to e",
        ),
        (
            "outage.reported",
            {"channel": "sms", "incident_id": "I-1"},
            "the customer reported no power by sms (outage I-1)",
        ),
        (
            "customer.updated",
            {"phone": "+15035550100", "attributes": {"segment": "ev", "plan": "E-1"}},
            "customer updated: phone, attributes (plan, segment)",
        ),
        (
            "customer.created",
            {"locale": "es", "time_zone": "America/Denver"},
            "customer created (language es, time zone America/Denver)",
        ),
        # customer.created's default zone is UTC, which quiet hours read as unset: the line must not
        # say UTC when the customer's hours are judged in the policy's zone
        (
            "customer.created",
            {"locale": "en", "time_zone": "UTC"},
            "customer created (language en, no time zone given: the policy's default_time_zone applies)",
        ),
    ],
)
def test_the_timeline_says_what_each_event_means(event_type: str, payload: dict[str, Any], line: str) -> None:
    assert explain(event_type, payload) == line
