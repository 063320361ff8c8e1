"""The program's texts per locale: a Spanish reply reads Spanish throughout (name, contact,
frequency); a text given per locale must cover every locale a reply using it is written in, and is
refused otherwise at its file:line:column."""

from __future__ import annotations

import pytest

from gridjourney.policy.loader import PolicyErrors, load_policy_text
from gridjourney.policy.model import Policy
from tests.policy.test_loader import GOOD

PROGRAM_LINE = "program: {name: Test Alerts, contact: 1-800-555-0100, frequency: up to 8 msgs/month}"
SPANISH_PROGRAM = (
    "program: {name: {en: Test Alerts, es: Alertas de Prueba}, contact: 1-800-555-0100,\n"
    "  frequency: {en: up to 8 msgs/month, es: hasta 8 mensajes al mes}}"
)
HELP_LINE = 'help: {en: "HELP"}'
BILINGUAL_HELP = 'help: {en: "{program}: {frequency}, {contact}", es: "{program}: {frequency}, {contact}"}'


def policy_text(program: str = SPANISH_PROGRAM, help_line: str = BILINGUAL_HELP) -> str:
    assert PROGRAM_LINE in GOOD and HELP_LINE in GOOD
    return GOOD.replace(PROGRAM_LINE, program).replace(HELP_LINE, help_line)


def loaded(text: str) -> Policy:
    return load_policy_text(text, "policy.yaml")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("es", "Alertas de Prueba: hasta 8 mensajes al mes, 1-800-555-0100"),
        ("es-MX", "Alertas de Prueba: hasta 8 mensajes al mes, 1-800-555-0100"),
        ("en", "Test Alerts: up to 8 msgs/month, 1-800-555-0100"),
        ("fr", "Test Alerts: up to 8 msgs/month, 1-800-555-0100"),  # no French reply: all English
        (None, "Test Alerts: up to 8 msgs/month, 1-800-555-0100"),
    ],
)
def test_each_reply_is_filled_with_the_program_texts_of_its_locale(locale: str | None, expected: str) -> None:
    policy = loaded(policy_text())
    assert policy.replies.text("help", locale, policy.program) == expected


def test_the_shipped_spanish_help_and_start_carry_no_english(policy: Policy) -> None:
    english_words, spanish_words = policy.program.words("en"), policy.program.words("es")
    for kind in ("help", "start"):
        english, spanish = (policy.replies.text(kind, locale, policy.program) for locale in ("en", "es"))
        used = [field for field, words in english_words.items() if words in english]
        assert "program" in used and "frequency" in used, kind
        for field in used:
            assert english_words[field] not in spanish and spanish_words[field] in spanish, (kind, field)


def test_a_text_per_locale_without_a_reply_locale_it_serves_is_refused_at_the_field() -> None:
    text = policy_text(
        program=PROGRAM_LINE.replace("contact: 1-800-555-0100", "contact: {en: call 1-800-555-0100}"),
    )
    with pytest.raises(PolicyErrors) as caught:
        loaded(text)
    [error] = caught.value.errors
    line = text.splitlines()[2]
    assert (error.line, error.column) == (3, line.index("{en: call") + 1), error
    assert error.message == (
        "program.contact has no `es` text, but replies.help.es uses {contact}: that reply would carry the "
        "`en` one"
    )


def test_a_plain_text_serves_every_locale() -> None:
    policy = loaded(policy_text(program=PROGRAM_LINE))
    assert (
        policy.replies.text("help", "es", policy.program) == "Test Alerts: up to 8 msgs/month, 1-800-555-0100"
    )


@pytest.mark.parametrize(
    ("frequency", "reason"),
    [
        ("{es: hasta 8}", "a text per locale needs at least the `en` one"),
        ('{en: ""}', "the `en` text must be a string of 1 to 100 characters"),
        ("{en: [up, to]}", "the `en` text must be a string of 1 to 100 characters"),
        ("[up to 8]", "write a text, or a text per locale such as {en: ..., es: ...}"),
    ],
)
def test_a_bad_program_text_is_refused_at_its_position(frequency: str, reason: str) -> None:
    text = policy_text(program=PROGRAM_LINE.replace("up to 8 msgs/month", frequency))
    with pytest.raises(PolicyErrors) as caught:
        loaded(text)
    [error] = caught.value.errors
    assert (error.line, error.column) == (3, text.splitlines()[2].index(frequency) + 1), error
    assert error.message == f"program.frequency: {reason}"
