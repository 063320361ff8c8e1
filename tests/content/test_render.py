"""Rendering per channel and locale, with fallback; strict variables; the variables a template uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gridjourney.content import (
    TemplateProblem,
    render,
    template_locales,
    template_purpose,
    template_variables,
)
from gridjourney.content.render import candidate_locales

CONTEXT: dict[str, Any] = {
    "customer": {"customer_id": "c1", "name": "Ana", "locale": "es", "time_zone": "America/Los_Angeles"},
    "event": {"projected_amount": 182.4, "typical_amount": 120, "start": "2026-07-14T22:00:00+00:00"},
    "journey": {"id": "high_bill_alert", "version": 1},
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    for channel, locale, name, body in [
        ("sms", "en", "alert", "{{ customer.name }}: bill {{ event.projected_amount | money }}\n"),
        ("sms", "es", "alert", "{{ customer.name }}: factura {{ event.projected_amount | money }}"),
        ("sms", "en", "english_only", "Hi {{ customer.name }}"),
        ("sms", "en", "undefined", "Hi {{ customer.nickname }}"),
        ("sms", "en", "bad_filter", "{{ customer.name | money }}"),
        ("sms", "en", "unsafe", "{{ customer.__class__.__mro__ }}"),
        (
            "email",
            "en",
            "alert",
            "Subject: Your bill: {{ event.projected_amount | money }}\n\nHello {{ customer.name }}",
        ),
        (
            "email",
            "es",
            "alert",
            "Subject: Su factura\nHola {{ customer.name }},\n{{ event.start | local_datetime }}",
        ),
        ("email", "en", "no_subject", "Hello"),
        (
            "sms",
            "en",
            "paths",
            "{{ event.a.b }} {{ customer['plan'].name }} {{ customer[key] }} {{ journey.id }}",
        ),
    ]:
        path = tmp_path / channel / locale / f"{name}.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return tmp_path


def test_render_sms_in_english_and_spanish(templates: Path) -> None:
    english = render(templates, "sms", "alert", "en", CONTEXT)
    assert (english.subject, english.body, english.locale) == (None, "Ana: bill $182.40", "en")
    spanish = render(templates, "sms", "alert", "es", CONTEXT)
    assert (spanish.body, spanish.locale) == ("Ana: factura $182.40", "es")


def test_locale_falls_back_to_language_then_english(templates: Path) -> None:
    assert candidate_locales("es-MX") == ["es-MX", "es", "en"]
    assert render(templates, "sms", "alert", "es-MX", CONTEXT).locale == "es"
    assert render(templates, "sms", "alert", "fr", CONTEXT).locale == "en"
    assert render(templates, "sms", "english_only", "es", CONTEXT).body == "Hi Ana"
    assert render(templates, "sms", "alert", None, CONTEXT).locale == "en"


def test_email_subject_line(templates: Path) -> None:
    english = render(templates, "email", "alert", "en", CONTEXT)
    assert (english.subject, english.body) == ("Your bill: $182.40", "Hello Ana")
    spanish = render(templates, "email", "alert", "es", CONTEXT)
    assert spanish.subject == "Su factura"
    assert spanish.body == "Hola Ana,\nmartes 14 de julio a las 3:00 p. m. PDT"
    with pytest.raises(TemplateProblem, match="first line must be `Subject:"):
        render(templates, "email", "no_subject", "en", CONTEXT)


def test_undefined_variable_is_an_error(templates: Path) -> None:
    with pytest.raises(TemplateProblem, match="nickname"):
        render(templates, "sms", "undefined", "en", CONTEXT)


def test_filter_errors_and_sandbox(templates: Path) -> None:
    with pytest.raises(TemplateProblem, match="could not convert"):
        render(templates, "sms", "bad_filter", "en", CONTEXT)
    with pytest.raises(TemplateProblem):
        render(templates, "sms", "unsafe", "en", CONTEXT)


def test_missing_template(templates: Path) -> None:
    with pytest.raises(TemplateProblem, match=r"looked for sms/es/nothing.j2, sms/en/nothing.j2"):
        render(templates, "sms", "nothing", "es", CONTEXT)


def test_template_variables_and_locales(templates: Path) -> None:
    assert template_variables(templates, "sms", "alert", "en") == {"customer.name", "event.projected_amount"}
    assert template_variables(templates, "sms", "paths", "en") == {
        "event.a.b",
        "customer.plan.name",
        "customer",
        "key",
        "journey.id",
    }
    assert template_locales(templates, "sms", "alert") == ["en", "es"]
    assert template_locales(templates, "push", "alert") == []
    with pytest.raises(TemplateProblem):
        template_variables(templates, "sms", "nothing", "en")


def test_the_purpose_line_marks_a_template_and_is_never_sent(templates: Path) -> None:
    (templates / "sms" / "en" / "outage.j2").write_text(
        "Purpose: safety\nPower is out, {{ customer.name }}.\n"
    )
    (templates / "email" / "en" / "outage.j2").write_text("Purpose: safety\nSubject: Outage\n\nPower is out.")
    (templates / "sms" / "en" / "typo.j2").write_text("Purpose: saftey\nPower is out.")
    sms = render(templates, "sms", "outage", "en", CONTEXT)
    assert (sms.subject, sms.body) == (None, "Power is out, Ana.")
    email = render(templates, "email", "outage", "en", CONTEXT)
    assert (email.subject, email.body) == ("Outage", "Power is out.")
    assert template_purpose(templates, "sms", "outage", "en") == "safety"
    assert template_purpose(templates, "email", "outage", "en") == "safety"
    assert template_purpose(templates, "sms", "alert", "en") is None
    with pytest.raises(TemplateProblem, match="unknown purpose 'saftey'"):
        template_purpose(templates, "sms", "typo", "en")
    with pytest.raises(TemplateProblem, match=r"sms/en/nothing\.j2"):
        template_purpose(templates, "sms", "nothing", "en")


def test_a_purpose_line_further_down_is_text(templates: Path) -> None:
    (templates / "sms" / "en" / "quoted.j2").write_text("Hello\nPurpose: safety")
    assert template_purpose(templates, "sms", "quoted", "en") is None
    assert render(templates, "sms", "quoted", "en", CONTEXT).body == "Hello\nPurpose: safety"


# --- the HTML part of email, the URL line of push ---------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def test_email_gets_an_html_part_with_every_value_escaped(templates: Path) -> None:
    (templates / "email" / "layout.html.j2").write_text(
        '<html lang="{{ locale }}"><title>{{ subject }}</title><body>{% for block in blocks %}'
        "[{{ block.kind }}:{{ block.lines | join('|') }}]{% endfor %}</body></html>"
    )
    (templates / "email" / "en" / "tips.j2").write_text(
        "Subject: Tips for {{ customer.name }}\nHi {{ customer.name }} & family,\nread on:\n\n"
        "- one\n- two & three\nBye\n"
    )
    hostile = {**CONTEXT, "customer": {**CONTEXT["customer"], "name": "<b>Ana</b>"}}
    message = render(templates, "email", "tips", "en", hostile)
    assert message.body.startswith("Hi <b>Ana</b> & family")  # the text part is plain text
    assert message.html == (
        '<html lang="en"><title>Tips for &lt;b&gt;Ana&lt;/b&gt;</title><body>'
        "[paragraph:Hi &lt;b&gt;Ana&lt;/b&gt; &amp; family,|read on:][list:one|two &amp; three]"
        "[paragraph:Bye]</body></html>"
    )


def test_an_html_template_beside_the_text_one_wins_in_the_same_locale(templates: Path) -> None:
    (templates / "email" / "es" / "alert.html.j2").write_text("<p>Hola {{ customer.name }}</p>")
    hostile = {**CONTEXT, "customer": {**CONTEXT["customer"], "name": "<script>x</script>"}}
    spanish = render(templates, "email", "alert", "es", hostile)
    assert spanish.html == "<p>Hola &lt;script&gt;x&lt;/script&gt;</p>"
    english = render(templates, "email", "alert", "en", hostile)  # no en/alert.html.j2: the bare layout
    assert english.html is not None
    assert "<p>Hello &lt;script&gt;x&lt;/script&gt;</p>" in english.html
    assert "<title>Your bill: $182.40</title>" in english.html


def test_sms_and_push_get_no_html(templates: Path) -> None:
    assert render(templates, "sms", "alert", "en", CONTEXT).html is None


def test_push_templates_carry_a_url_line(templates: Path) -> None:
    push = templates / "push" / "en"
    push.mkdir(parents=True)
    (push / "alert.j2").write_text(
        "Subject: Bill alert\nURL: https://cascadepower.example/bills/{{ customer.customer_id }}\n"
        "Your bill is {{ event.projected_amount | money }}."
    )
    (push / "relative.j2").write_text("Subject: Bill\nURL: /bills\n\nSee your bill.")
    (push / "plain.j2").write_text("Subject: Bill\nSee your bill.")
    (push / "bad.j2").write_text("Subject: Bill\nURL: javascript:alert(1)\nSee your bill.")
    message = render(templates, "push", "alert", "en", CONTEXT)
    assert (message.subject, message.url, message.body) == (
        "Bill alert",
        "https://cascadepower.example/bills/c1",
        "Your bill is $182.40.",
    )
    assert render(templates, "push", "relative", "en", CONTEXT).url == "/bills"
    plain = render(templates, "push", "plain", "en", CONTEXT)
    assert (plain.url, plain.body) == (None, "See your bill.")
    with pytest.raises(TemplateProblem, match=r"push/en/bad\.j2: the `URL:` line"):
        render(templates, "push", "bad", "en", CONTEXT)


def shipped_email_sends() -> list[tuple[str, str, str]]:
    from gridjourney.dsl.loader import load_journey_with_positions
    from gridjourney.dsl.schema import SendStep

    sends = []
    for path in sorted((ROOT / "journeys").glob("*.yaml")):
        definition = load_journey_with_positions(path.read_text(), str(path)).definition
        for step in definition.steps:
            if isinstance(step, SendStep) and "email" in step.send.channels:
                sends.append((definition.id, definition.trigger[0].event, step.send.template))
    return sends


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_shipped_email_renders_both_parts(locale: str) -> None:
    from gridjourney.content.preview import sample_context

    sends = shipped_email_sends()
    assert sends, "the shipped journeys send email"
    for journey_id, event_type, template in sends:
        context = sample_context(event_type, journey_id, locale)
        context["customer"]["name"] = "<i>Alexandra</i>"
        message = render(ROOT / "templates", "email", template, locale, context)
        assert message.locale == locale
        assert message.html is not None and message.html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{locale}">' in message.html
        assert "&lt;i&gt;Alexandra&lt;/i&gt;" in message.html, template
        assert "<i>" not in message.html
