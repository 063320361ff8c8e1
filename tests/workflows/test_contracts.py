"""What the contracts between the journey workflow and its activities record."""

from __future__ import annotations

from gridjourney.workflows.contracts import SendOutcome


def test_a_failed_send_records_its_code_never_the_providers_words() -> None:
    twilio = (
        "invalid_recipient: twilio 400 code 21211: The 'To' number +15005550001 is not a valid phone number."
    )
    assert (
        SendOutcome(status="failed", channel="sms", reason=twilio).step_outcome == "failed:invalid_recipient"
    )
    template = "template_error: 'dict object' has no attribute 'bill'"
    assert (
        SendOutcome(status="failed", channel="email", reason=template).step_outcome == "failed:template_error"
    )


def test_sent_and_suppressed_outcomes_keep_their_channel_and_reasons() -> None:
    assert SendOutcome(status="sent", channel="sms").step_outcome == "sent:sms"
    refused = SendOutcome(status="suppressed", reason="sms: consent_revoked; email: frequency_cap (2 in 7d)")
    assert refused.step_outcome == "suppressed:sms: consent_revoked; email: frequency_cap (2 in 7d)"
    assert SendOutcome(status="failed").step_outcome == "failed"
