"""The eligibility rules on their own (pure: no database)."""

from __future__ import annotations

from gridjourney.activities.context import CustomerRecord
from gridjourney.activities.eligibility import Consents, decide
from gridjourney.dsl.schema import Channel

ALL: set[Channel] = {"sms", "email", "push"}


def customer(**fields: object) -> CustomerRecord:
    return CustomerRecord.model_validate(
        {"customer_id": "c1", "phone": "+15035550100", "email": "ana@example.org"} | fields
    )


def test_the_first_eligible_channel_in_order_wins() -> None:
    consents = Consents({("sms", "marketing"): True, ("email", "marketing"): True})
    decision = decide(customer(), ["email", "sms"], "marketing", consents, ALL)
    assert (decision.channel, decision.recipient) == ("email", "ana@example.org")
    assert decision.reason() == "email: eligible"


def test_each_refused_channel_gives_its_reason() -> None:
    consents = Consents({("sms", "marketing"): False, ("email", "marketing"): True})
    decision = decide(customer(email=None), ["push", "sms", "email"], "marketing", consents, ALL)
    assert decision.channel is None
    assert decision.reason() == "push: no_consent; sms: consent_revoked; email: no_contact_point"


def test_push_needs_a_registered_device_token() -> None:
    consents = Consents({("push", "informational"): True})
    with_token = customer(attributes={"push_token": "fcm:abc"})
    assert decide(with_token, ["push"], "informational", consents, ALL).recipient == "fcm:abc"
    assert decide(customer(), ["push"], "informational", consents, ALL).reason() == "push: no_contact_point"


def test_a_channel_without_a_sender_is_refused() -> None:
    consents = Consents({("sms", "safety"): True})
    decision = decide(customer(), ["sms"], "safety", consents, {"email"})
    assert decision.reason() == "sms: channel_not_configured"


def test_safety_needs_no_explicit_consent_but_honours_a_revocation() -> None:
    assert decide(customer(), ["sms"], "safety", Consents({}), ALL).channel == "sms"
    revoked = Consents({("sms", "safety"): False})
    assert decide(customer(), ["sms"], "safety", revoked, ALL).channel is None
    assert decide(customer(), ["sms"], "informational", Consents({}), ALL).reason() == "sms: no_consent"
