"""The policy model's replies: every text formats with exactly {program}, {contact} and {frequency};
anything else is refused at load, at the text's file:line:column, since STOP and HELP answer with it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gridjourney.policy.loader import PolicyErrors, load_policy_text
from gridjourney.policy.model import Program, Replies
from tests.policy.test_loader import GOOD

PROGRAM = Program(name="Test Alerts", contact="1-800-555-0100", frequency="up to 8 msgs/month")


def with_help(text: str) -> str:
    """GOOD with the English HELP text replaced (line 19; its value starts at column 14)."""
    return GOOD.replace('help: {en: "HELP"}', f"help: {{en: {text!r}}}")


def test_every_known_placeholder_and_doubled_braces_format() -> None:
    policy = load_policy_text(with_help("{program} at {contact}, {frequency}. {{literally}}"), "policy.yaml")
    assert policy.replies.text("help", "en", PROGRAM) == (
        "Test Alerts at 1-800-555-0100, up to 8 msgs/month. {literally}"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "Call {phone}",
            "unknown placeholder `{phone}` at character 6; use {program}, {contact}, {frequency}",
        ),
        ("Reply {}", "unknown placeholder `{}` at character 7"),
        ("{program.upper}", "unknown placeholder `{program.upper}` at character 1"),
        ("{program:>40}", "unknown placeholder `{program:>40}` at character 1"),
        ("{program!r}", "unknown placeholder `{program!r}` at character 1"),
        ("{0}", "unknown placeholder `{0}` at character 1"),
        ("Help {program", "a lone `{` at character 6; write `{{` for the brace itself"),
        ("Help } now", "a lone `}` at character 6; write `}}` for the brace itself"),
    ],
)
def test_a_reply_that_would_not_format_is_refused_at_its_position(text: str, reason: str) -> None:
    with pytest.raises(PolicyErrors) as caught:
        load_policy_text(with_help(text), "policy.yaml")
    [error] = caught.value.errors
    assert (error.file, error.line, error.column) == ("policy.yaml", 19, 14), error
    assert reason in error.message, error


def test_every_locale_is_checked() -> None:
    with pytest.raises(ValidationError, match=r"stop\.es"):
        Replies.model_validate(
            {"help": {"en": "h"}, "stop": {"en": "s", "es": "{programa}"}, "start": {"en": "s"}}
        )


PIECES = st.sampled_from(["{", "}", "program", "contact", "frequency", "x", " ", ":", "!r", ".", "0"])


@given(st.lists(PIECES, max_size=12).map("".join))
def test_whatever_the_model_accepts_formats(text: str) -> None:
    try:
        replies = Replies.model_validate(
            {"help": {"en": text or "x"}, "stop": {"en": "s"}, "start": {"en": "s"}}
        )
    except ValidationError:
        return
    replies.text("help", "en", PROGRAM)  # raises if a text the model accepted cannot be formatted
