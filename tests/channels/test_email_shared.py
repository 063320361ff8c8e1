"""Cutting many emails into the content they share and each one's substitutions."""

from __future__ import annotations

from gridjourney.channels.email_shared import (
    HTML_TAG,
    TEXT_TAG,
    UNSUBSCRIBE_TAG,
    EmailParts,
    shared_content,
)
from gridjourney.channels.sendgrid_standin import substitute


def parts(name: str, n: int, footer: str = f"Unsubscribe: {UNSUBSCRIBE_TAG}\n") -> EmailParts:
    return EmailParts(
        text=f"Hi {name},\nThe event starts at 5 PM.\n--\n{footer}",
        html=f'<html><body><p>Hi {name},</p><a href="{UNSUBSCRIBE_TAG}">x</a></body></html>',
        unsubscribe_url=f"https://gj.example/u/token-{n}",
    )


def test_each_email_substituted_into_the_shared_content_is_its_own() -> None:
    emails = [parts("Ana", 0), parts("Bo", 1), parts("Anabel", 2)]
    shared = shared_content(emails)

    assert shared.text == f"Hi {TEXT_TAG},\nThe event starts at 5 PM.\n--\nUnsubscribe: {UNSUBSCRIBE_TAG}\n"
    assert HTML_TAG in shared.html
    for email, own in zip(emails, shared.substitutions, strict=True):
        assert own is not None
        url = email.unsubscribe_url
        assert substitute(shared.text, own) == email.text.replace(UNSUBSCRIBE_TAG, url)
        assert substitute(shared.html, own) == email.html.replace(UNSUBSCRIBE_TAG, url)


def test_an_email_whose_difference_is_over_the_limit_cannot_share() -> None:
    shared = shared_content([parts("Ana", 0), parts("B" * 10_000, 1)])
    assert shared.substitutions[0] is not None and shared.substitutions[1] is None


def test_a_cut_through_an_unsubscribe_tag_is_never_shared() -> None:
    # Texts that part ways inside the tag: the shared start would hold half of it.
    broken = UNSUBSCRIBE_TAG[:-2] + "X"
    shared = shared_content([parts("Ana", 0), parts("Ana", 1, footer=f"Unsubscribe: {broken}\n")])
    assert shared.substitutions == [None, None]


def test_a_middle_that_runs_into_the_footer_carries_its_own_link() -> None:
    emails = [
        parts("Ana", 0, footer=f"A {UNSUBSCRIBE_TAG} a\n"),
        parts("Bo", 1, footer=f"B {UNSUBSCRIBE_TAG} b\n"),
    ]
    shared = shared_content(emails)
    for email, own in zip(emails, shared.substitutions, strict=True):
        assert own is not None and UNSUBSCRIBE_TAG not in own[TEXT_TAG]
        url = email.unsubscribe_url
        assert substitute(shared.text, own) == email.text.replace(UNSUBSCRIBE_TAG, url)
