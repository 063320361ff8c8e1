"""`journeys preview`'s rendering: every send, channel and locale, SMS encodings, and the graph."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gridjourney.content.preview import generated_customer, preview_journey, sample_event, send_uses
from gridjourney.content.preview_graph import journey_mermaid
from gridjourney.content.preview_samples import customer_warnings
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.vocabulary import CustomerAttributes
from tests.files import write_files

JOURNEY = """
id: winter_prep
purpose: informational
trigger: {event: bill.issued}
steps:
  - id: pick
    branch:
      - when: "customer.heating == 'electric'"
        goto: tips
      - goto: end
  - id: tips
    send: {channels: [sms, email], template: winter_tips}
"""


def definition(text: str = JOURNEY) -> JourneyDefinition:
    return load_journey_with_positions(text, "winter_prep.yaml").definition


def templates(root: Path) -> Path:
    files = {
        "sms/en/winter_tips.j2": (
            "Hi {{ customer.name }}, your {{ customer.heating }} heat costs more in winter."
        ),
        "sms/es/winter_tips.j2": "Hola {{ customer.name }}, ¿su calefacción {{ customer.heating }}? 🔥",
        "email/en/winter_tips.j2": "Subject: Winter is coming\n\nHi {{ customer.name }},\n\nTurn it down.",
    }
    return write_files(root, files)


def test_every_channel_and_locale_is_rendered_with_the_attributes_templates_read(tmp_path: Path) -> None:
    root = templates(tmp_path)
    journey = definition()
    customer = generated_customer(root, send_uses(journey))
    assert customer["heating"] == "HEATING"
    previews = preview_journey(journey, root, customer)
    assert [(p.step_id, p.channel, p.locale) for p in previews] == [
        ("tips", "sms", "en"),
        ("tips", "sms", "es"),
        ("tips", "email", "en"),
    ]
    sms_en, sms_es, email = previews
    assert (sms_en.encoding, sms_en.segments) == ("GSM-7", 1)
    assert sms_en.text is not None and "HEATING" in sms_en.text
    assert sms_es.encoding == "UCS-2"  # ¿ is GSM-7, the emoji is not
    assert email.subject == "Winter is coming"
    assert email.html is not None and "Turn it down." in email.html
    assert email.encoding is None


def test_a_given_customer_replaces_the_samples_and_a_missing_template_is_a_problem(tmp_path: Path) -> None:
    root = templates(tmp_path)
    (root / "email" / "en" / "winter_tips.j2").unlink()
    previews = preview_journey(definition(), root, {"name": "Zoë", "heating": "gas"})
    assert previews[0].text == "Hi Zoë, your gas heat costs more in winter."
    missing = [p for p in previews if p.channel == "email"]
    assert len(missing) == 1 and missing[0].problem is not None
    assert "email/en/winter_tips.j2" in missing[0].problem


def test_the_graph_shows_step_kinds_and_branch_conditions() -> None:
    text = journey_mermaid(definition())
    assert text.startswith("flowchart TD")
    assert "_trigger --> pick" in text
    assert "pick -->|\"customer.heating == 'electric'\"| tips" in text
    assert 'pick -->|"otherwise"| _end' in text
    assert 'tips["tips — send: winter_tips via sms, email"]' in text
    assert "tips --> _end" in text


def test_declared_attributes_get_a_value_of_their_type(tmp_path: Path) -> None:
    declared = CustomerAttributes.model_validate(
        {
            "attributes": {
                "heating": {"type": "string", "values": ["electric", "gas"]},
                "sqft": {"type": "number"},
                "budget_billing": {"type": "boolean"},
            },
            "segments": ["evening_peak", "flat"],
            "scores": {"dr_propensity": {"type": "number"}},
        }
    )
    customer = generated_customer(templates(tmp_path), send_uses(definition()), declared)
    assert (customer["heating"], customer["sqft"], customer["budget_billing"]) == ("electric", 1234.56, True)
    # a score reads as one (0-1), not as an amount
    assert (customer["segment"], customer["scores"]) == ("evening_peak", {"dr_propensity": 0.62})


def test_a_declared_event_type_gets_sample_fields() -> None:
    # bill.past_due is declared in events/billing.yaml, not built in
    event = sample_event("bill.past_due")
    assert (event["type"], event["amount_due"], event["days_past_due"]) == ("bill.past_due", 1234.56, 12)


def test_an_event_s_amounts_differ_and_read_as_one_story() -> None:
    """The high-bill text once read "between $1,234.56 and $1,234.56, above your usual $1,234.56"."""
    event = sample_event("bill.projection_updated")
    low, projected, high = (
        event["projected_amount_low"],
        event["projected_amount"],
        event["projected_amount_high"],
    )
    assert event["typical_amount"] < low < projected < high
    assert 0 < event["ratio"] < 10
    assert event["bill_period_start"] < event["bill_period_end"]
    root = Path(__file__).parents[2] / "templates"
    journey = load_journey_with_positions(
        (root.parent / "journeys" / "high_bill_alert.yaml").read_text(encoding="utf-8"),
        "high_bill_alert.yaml",
    ).definition
    texts = [p.text for p in preview_journey(journey, root, {"name": "Ana"}) if p.channel == "sms"]
    assert texts and all(text is not None for text in texts)
    assert "between $1,049.38 and $1,419.74, above your usual $802.46" in str(texts[0])


def test_a_given_customer_s_undeclared_field_is_a_warning_with_the_nearest_name() -> None:
    declared = CustomerAttributes.model_validate(
        {"attributes": {"heating": {"type": "string"}}, "scores": {"dr_propensity": {"type": "number"}}}
    )
    given = {"name": "Zoë", "heatng": "gas", "heating": "gas", "scores": {}, "zzz": 1}
    assert customer_warnings(given, declared) == [
        "--customer: `heatng` is not a declared customer attribute: did you mean `heating`?",
        "--customer: `zzz` is not a declared customer attribute (declared: customer_id, heating, locale, "
        "name, scores, scores_updated_at, time_zone)",
    ]
    assert customer_warnings(given, None) == []  # without declarations, attributes are not checked


AB_JOURNEY = """
id: budget_ab
purpose: marketing
trigger: bill.issued
steps:
  - id: pick_subject
    split:
      - {weight: 50, goto: invite, vars: {subject: "Save on your bill"}}
      - {weight: 50, goto: invite, vars: {subject: "Your bill, lower"}}
  - id: invite
    send: {channels: [email], template: budget_invite}
  - id: await_audit
    wait_for: {event: audit.booked, timeout: 14d, on_event: confirm, on_timeout: end}
  - id: confirm
    send: {channels: [sms], template: audit_confirm}
"""


def test_an_a_b_test_shows_each_arm_s_message_and_a_confirmation_its_awaited_event(tmp_path: Path) -> None:
    files = {
        "email/en/budget_invite.j2": "Subject: {{ vars.subject }}\n\nHi {{ customer.name }}, join us.",
        "sms/en/audit_confirm.j2": "Your audit is booked for {{ waited_event.scheduled_for }}.",
    }
    write_files(tmp_path, files)
    journey = definition(AB_JOURNEY)
    previews = preview_journey(journey, tmp_path, generated_customer(tmp_path, send_uses(journey)))
    assert [(p.step_id, p.subject, p.variant, p.problem) for p in previews] == [
        ("invite", "Save on your bill", "subject='Save on your bill'", None),
        ("invite", "Your bill, lower", "subject='Your bill, lower'", None),
        ("confirm", None, None, None),
    ]
    confirm = previews[2]
    assert confirm.text is not None
    assert sample_event("audit.booked")["scheduled_for"] in confirm.text


def test_a_scheduled_journey_s_messages_read_the_fire(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"email/en/fired.j2": "Subject: Run {{ event.scheduled_for }}\n\nHi."})
    journey = definition(
        """
id: fired
purpose: informational
trigger:
  schedule: {month: november, day: 1, at: "10:00"}
  audience: "True"
steps:
  - id: tell
    send: {channels: [email], template: fired}
"""
    )
    [email] = preview_journey(journey, root, generated_customer(root, send_uses(journey)))
    assert email.problem is None
    assert email.subject is not None and email.subject.startswith("Run ")
    # the next fire, not a fixed sample day (a Monday digest once read "Tuesday, July 14")
    monday = definition(
        """
id: digest
purpose: informational
trigger:
  schedule: {weekday: monday, at: "09:00"}
  audience: "True"
steps:
  - id: tell
    send: {channels: [email], template: fired}
"""
    )
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday
    [email] = preview_journey(monday, root, {"name": "Ana"}, zone="America/Chicago", now=now)
    assert email.subject == "Run 2026-12-07T15:00:00+00:00"  # Monday 09:00 CST


def test_a_long_condition_is_cut_short_in_the_graph() -> None:
    flat = " or ".join(f"customer.sqft == {n}" for n in range(300))  # 6 KB
    text = journey_mermaid(definition(JOURNEY.replace("customer.heating == 'electric'", flat)))
    edge = next(line for line in text.splitlines() if line.startswith("  pick -->|") and "tips" in line)
    assert edge.endswith('…"| tips') and len(edge) < 250
