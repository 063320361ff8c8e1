"""Emails that differ (a greeting by name) in one Mail Send request, as SendGrid's substitutions.

The request's content is what all the emails share, with a tag where they differ: each part is
cut into the text every email starts with, a tag, and the text every email ends with; each
personalization substitutes its own middle for the tag (and its own unsubscribe link for
`UNSUBSCRIBE_TAG`, which the shared footer holds). SendGrid replaces each tag in the content with
the personalization's value, so each customer receives exactly their own rendered email
(channels/sendgrid_standin.py does the same). The subject goes in the personalization itself.

SendGrid limits one personalization's substitutions to `MAX_SUBSTITUTION_BYTES` (tags and values):
an email whose middle is larger goes in a request of its own, where it shares everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Substitution tags; an email whose own content holds TAG_MARK goes alone and unsubstituted, so no
# customer's text can be taken for a tag.
TAG_MARK = "-gridjourney_"
UNSUBSCRIBE_TAG = f"{TAG_MARK}unsubscribe_url-"
TEXT_TAG = f"{TAG_MARK}text-"
HTML_TAG = f"{TAG_MARK}html-"
MAX_SUBSTITUTION_BYTES = 10_000


@dataclass(frozen=True)
class EmailParts:
    """One email as sent: its text and HTML parts with `UNSUBSCRIBE_TAG` where its link goes, and
    the link."""

    text: str
    html: str
    unsubscribe_url: str


@dataclass(frozen=True)
class SharedContent:
    """The request's two content parts, and each email's substitutions (None: too large to share)."""

    text: str
    html: str
    substitutions: list[dict[str, str] | None]


def shared_content(emails: Sequence[EmailParts]) -> SharedContent:
    """What `emails` share, and what each substitutes (see the module's docstring)."""
    text = _Cut.of(TEXT_TAG, [email.text for email in emails])
    html = _Cut.of(HTML_TAG, [email.html for email in emails])
    substitutions: list[dict[str, str] | None] = []
    for n, email in enumerate(emails):
        url = email.unsubscribe_url
        # A middle that runs into the footer carries the tag: written out here, whatever the provider
        # does with tags inside values.
        own = {
            TEXT_TAG: text.middles[n].replace(UNSUBSCRIBE_TAG, url),
            HTML_TAG: html.middles[n].replace(UNSUBSCRIBE_TAG, url),
            UNSUBSCRIBE_TAG: url,
        }
        fits = substitution_bytes(own) <= MAX_SUBSTITUTION_BYTES
        exact = text.exact(n, email.text) and html.exact(n, email.html)
        substitutions.append(own if fits and exact else None)
    return SharedContent(text=text.content, html=html.content, substitutions=substitutions)


@dataclass(frozen=True)
class _Cut:
    """One part of many emails cut as start + tag + end (`content`), with each email's middle.
    `links`: the unsubscribe tags in the start and the end; `whole`: the content holds those and
    its own tag whole, none made where the pieces meet."""

    content: str
    middles: list[str]
    links: int
    whole: bool

    @classmethod
    def of(cls, tag: str, values: Sequence[str]) -> _Cut:
        start = _common_start(values)
        rests = [value[len(start) :] for value in values]
        end = _common_start([rest[::-1] for rest in rests])[::-1]
        content = start + tag + end
        links = start.count(UNSUBSCRIBE_TAG) + end.count(UNSUBSCRIBE_TAG)
        whole = content.count(UNSUBSCRIBE_TAG) == links and content.count(TAG_MARK) == links + 1
        return cls(content, [rest[: len(rest) - len(end)] for rest in rests], links, whole)

    def exact(self, n: int, value: str) -> bool:
        """Whether substituting the content gives `value` back: the content is whole and no
        unsubscribe tag of `value` was cut in two where its middle meets the start or the end."""
        middle_links = self.middles[n].count(UNSUBSCRIBE_TAG)
        return self.whole and value.count(UNSUBSCRIBE_TAG) == self.links + middle_links


def substitution_bytes(substitutions: dict[str, str]) -> int:
    """The size SendGrid counts against the limit: every tag and value, UTF-8."""
    return sum(len(tag.encode()) + len(value.encode()) for tag, value in substitutions.items())


def holds_tag(*texts: str | None) -> bool:
    return any(text is not None and TAG_MARK in text for text in texts)


def _common_start(values: Sequence[str]) -> str:
    # What the alphabetically first and last share, every value between them shares.
    low, high = min(values), max(values)
    length = next((i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), len(low))
    return low[:length]
