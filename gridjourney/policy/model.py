"""The compliance policy, version 1: the pydantic models `policy.yaml` is validated into.

One file says what every message must satisfy before it leaves (activities/eligibility.py applies
it to every send): consent per purpose, the hours a purpose may be sent in (outside them are quiet
hours: the message is deferred, never dropped), frequency caps over rolling windows, which purposes
are exempt from which rule, the HELP answer and the sender identity of each channel.
Pure data, no I/O: the loader (policy/loader.py) gives file:line:column errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
)

from gridjourney.dsl.durations import Duration
from gridjourney.dsl.schema import Channel, Purpose

# Windows are parsed as journeys parse theirs (a pure module: the workflow imports journey definitions).
from gridjourney.dsl.windows import WINDOW_PATTERN, windows_from_text
from gridjourney.dsl.windows import TimeWindow as TimeWindow
from gridjourney.dsl.windows import check_no_overlap as check_no_overlap
from gridjourney.events.fields import Email, Phone, TimeZone

Exemption = Literal["quiet_hours", "frequency_caps"]
ConsentRule = Literal["opt_in", "implied"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SendingHours = Annotated[
    list[TimeWindow],
    Field(
        min_length=1,
        description='Local hours a message may be sent in, e.g. "08:00-21:00" or a list of windows; '
        "outside them are quiet hours.",
    ),
    # As the file writes them: one window or a list of windows, each "HH:MM-HH:MM".
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": WINDOW_PATTERN},
                {"type": "array", "items": {"type": "string", "pattern": WINDOW_PATTERN}, "minItems": 1},
            ],
            "examples": ["08:00-21:00", ["07:00-12:00", "13:00-20:00"]],
        }
    ),
]


class FrequencyCap(Strict):
    channel: Channel | Literal["any"] = Field(description="The channel counted; `any` counts all three.")
    max: int = Field(ge=1, le=10_000, description="At most this many messages ...")
    per: Duration = Field(description="... in any rolling window this long, e.g. 1d or 7d.")

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(days=366):
            raise ValueError("a cap's window is between 1s and 366d")
        return value


class PurposeRules(Strict):
    consent: ConsentRule = Field(
        "opt_in",
        description="opt_in: only with consent recorded for (channel, purpose). implied: unless revoked "
        "(TCPA lets service-related safety messages rely on the number the customer gave).",
    )
    sending_hours: SendingHours = Field(default_factory=lambda: [TimeWindow.parse("08:00-21:00")])
    caps: list[FrequencyCap] = Field(default_factory=list, max_length=20)
    exempt_from: list[Exemption] = Field(
        default_factory=list, description="Rules this purpose skips: quiet_hours, frequency_caps."
    )

    @field_validator("sending_hours", mode="before")
    @classmethod
    def _parse_windows(cls, value: Any) -> Any:
        return windows_from_text(value)

    @field_validator("sending_hours")
    @classmethod
    def _disjoint(cls, value: list[TimeWindow]) -> list[TimeWindow]:
        return check_no_overlap(value)


class SmsSender(Strict):
    from_number: Phone = Field(description="The E.164 number messages come from (a Twilio number).")


class EmailSender(Strict):
    from_address: Email
    from_name: str = Field(min_length=1, max_length=200)
    reply_to: Email | None = None


class PushSender(Strict):
    vapid_subject: str = Field(
        # What push services (and py_vapid) accept: a mailto: address or an https: origin, no path.
        pattern=r"^(mailto:[^@\s]+@[\w-]+(\.[\w-]+)+|https://[\w-]+(\.[\w-]+)+(:\d+)?)$",
        description="VAPID `sub` claim: mailto:someone@utility.example or https://utility.example.",
    )


class Senders(Strict):
    sms: SmsSender
    email: EmailSender
    push: PushSender


def in_locale(texts: str | Mapping[str, str], locale: str | None) -> str:
    """The text for `locale`, else for its language ("es" for "es-MX"), else the English one; a plain
    string is the text of every locale."""
    if isinstance(texts, str):
        return texts
    language = (locale or "en").split("-")[0]
    return texts.get(locale or "en") or texts.get(language) or texts["en"]


def _localizable(max_length: int) -> Callable[[Any], str | dict[str, str]]:
    def check(value: Any) -> str | dict[str, str]:
        if isinstance(value, str):
            texts: dict[Any, Any] = {"en": value}
        elif isinstance(value, dict):
            texts = value
            if "en" not in texts:
                raise ValueError("a text per locale needs at least the `en` one")
        else:
            raise ValueError("write a text, or a text per locale such as {en: ..., es: ...}")
        for locale, text in texts.items():
            if not isinstance(locale, str) or not isinstance(text, str) or not 0 < len(text) <= max_length:
                raise ValueError(f"the `{locale}` text must be a string of 1 to {max_length} characters")
        return value if isinstance(value, str) else dict(texts)

    return check


def _localizable_schema(max_length: int, description: str) -> dict[str, Any]:
    text_schema = {"type": "string", "minLength": 1, "maxLength": max_length}
    by_locale = {"type": "object", "additionalProperties": text_schema, "required": ["en"]}
    return {"description": description, "anyOf": [text_schema, by_locale]}


# Texts the replies fill in: one for every language, or one per locale (`en` required).
ProgramName = Annotated[
    str | dict[str, str],
    PlainValidator(_localizable(100)),
    WithJsonSchema(_localizable_schema(100, "Named in HELP answers and footers; a text, or one per locale.")),
]
Contact = Annotated[
    str | dict[str, str],
    PlainValidator(_localizable(200)),
    WithJsonSchema(_localizable_schema(200, "A phone number or URL for help; a text, or one per locale.")),
]
Frequency = Annotated[
    str | dict[str, str],
    PlainValidator(_localizable(100)),
    WithJsonSchema(
        _localizable_schema(100, 'Message frequency, e.g. "up to 8 msgs/month"; a text, or one per locale.')
    ),
]


class Program(Strict):
    """Filled into the replies. Each field is one text, or a text per locale ({en: ..., es: ...}),
    which the reply in that locale uses: a Spanish HELP then reads Spanish throughout."""

    name: ProgramName
    contact: Contact
    frequency: Frequency

    def words(self, locale: str | None) -> dict[str, str]:
        """The placeholders of a reply in `locale`."""
        return {
            "program": in_locale(self.name, locale),
            "contact": in_locale(self.contact, locale),
            "frequency": in_locale(self.frequency, locale),
        }


REPLY_PLACEHOLDERS = ("program", "contact", "frequency")
# What str.format reads in a text: a doubled brace, a {field}, or a lone brace (which it refuses).
_FORMAT_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _known_placeholders(text: str) -> str:
    """Refuse, at load, a reply Replies.text could not format: it answers STOP and HELP."""
    for part in _FORMAT_PART.finditer(text):
        token, name, at = part.group(0), part.group(1), part.start() + 1
        if token in ("{{", "}}"):
            continue
        if name is None:
            raise ValueError(f"a lone `{token}` at character {at}; write `{token * 2}` for the brace itself")
        if name not in REPLY_PLACEHOLDERS:
            known = ", ".join(f"{{{known}}}" for known in REPLY_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder `{token}` at character {at}; use {known}")
    return text


def _placeholders(text: str) -> set[str]:
    return {part.group(1) for part in _FORMAT_PART.finditer(text) if part.group(1) is not None}


LocalizedText = dict[
    str, Annotated[str, Field(min_length=1, max_length=1_600), AfterValidator(_known_placeholders)]
]


class Replies(Strict):
    """Answers to inbound keywords, per locale (`en` required). `{program}`, `{contact}` and
    `{frequency}` are filled from `program`, in the reply's locale; any other brace is refused at
    load (`{{` writes one)."""

    help: LocalizedText
    stop: LocalizedText
    start: LocalizedText
    outage: LocalizedText | None = Field(
        None, description="The confirmation of an OUT reply (power still out); unset: no answer."
    )

    @field_validator("help", "stop", "start", "outage")
    @classmethod
    def _has_english(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and "en" not in value:
            raise ValueError("give at least the `en` text")
        return value

    @overload
    def text(self, kind: Literal["help", "stop", "start"], locale: str | None, program: Program) -> str: ...
    @overload
    def text(self, kind: Literal["outage"], locale: str | None, program: Program) -> str | None: ...
    def text(
        self, kind: Literal["help", "stop", "start", "outage"], locale: str | None, program: Program
    ) -> str | None:
        """The reply to `kind` in `locale` (else its language, else English); None when unset."""
        texts: dict[str, str] | None = getattr(self, kind)
        if texts is None:
            return None
        return in_locale(texts, locale).format(**program.words(locale))


class Policy(Strict):
    version: Literal[1] = 1
    default_time_zone: TimeZone = Field(description="For customers without a zone of their own.")
    program: Program
    senders: Senders
    purposes: dict[Purpose, PurposeRules] = Field(
        description="Rules of each purpose; all three required.",
        json_schema_extra={"required": ["marketing", "informational", "safety"]},
    )
    replies: Replies

    @field_validator("purposes")
    @classmethod
    def _every_purpose(cls, value: dict[Purpose, PurposeRules]) -> dict[Purpose, PurposeRules]:
        missing = [p for p in ("marketing", "informational", "safety") if p not in value]
        if missing:
            raise ValueError(f"purposes lacks {', '.join(missing)}: every purpose needs its rules")
        return value

    def rules(self, purpose: Purpose) -> PurposeRules:
        return self.purposes[purpose]

    def untranslated(self) -> list[tuple[tuple[str, str], str]]:
        """(where, why) for each program text given per locale but not in a locale a reply that uses
        it is written in: that reply would carry the English text. A plain text is every locale's."""
        problems: dict[tuple[str, str, str], str] = {}
        for field, placeholder in (("name", "program"), ("contact", "contact"), ("frequency", "frequency")):
            texts = getattr(self.program, field)
            if isinstance(texts, str):
                continue
            for kind in ("help", "stop", "start", "outage"):
                for locale, reply in (getattr(self.replies, kind) or {}).items():
                    language = locale.split("-")[0]
                    if placeholder not in _placeholders(reply) or locale in texts or language in texts:
                        continue
                    problems.setdefault(
                        ("program", field, locale),
                        f"program.{field} has no `{locale}` text, but replies.{kind}.{locale} uses "
                        f"{{{placeholder}}}: that reply would carry the `en` one",
                    )
        return [((program, field), why) for (program, field, _), why in problems.items()]
