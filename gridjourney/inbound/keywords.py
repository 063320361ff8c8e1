"""What an inbound SMS asks for: opt out (STOP), opt back in (START), help (HELP), report that the
power is still out (OUT), or nothing.

The rule: a message is a keyword only when the WHOLE message is one, after case, accents and
punctuation are set aside ("Stop!", "stop.", "  STOP ", "Stóp" are STOP) and courtesy words around
it are dropped ("stop please", "por favor baja"). A keyword inside a sentence is not one: "I can't
stop the outage" or "end of the month?" are ordinary replies that journeys may wait for. Besides the
carriers' single-word keywords, a short list of plain-language opt-outs in English and Spanish counts
("stop texting me", "no more messages", "no más mensajes", "dejen de enviarme", "darme de baja").

OUT ("still out", "no power", "sin luz") answers a restoration notice's "Reply OUT if you still have
no power". Opt-outs are tried first, so "opt out" stays a STOP.

YES is kept apart from START: it restores only a customer who opted out, since a journey may ask a
question that YES answers (gridjourney/inbound/twilio_inbound.py decides).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

KeywordKind = Literal["stop", "start", "yes", "help", "out"]
Language = Literal["en", "es"]

_COURTESY = r"(?:please|pls|plz|thanks|thank you|thx|now|por favor|porfavor|gracias|ya|ahora)"
_EN_OBJECT = r"(?:texts|text messages|messages|msgs|sms|alerts|these|this)"
_ES_OBJECT = r"(?:mensajes|mensajes de texto|textos|sms|alertas)"

_NEUTRAL: dict[KeywordKind, list[str]] = {
    # Carrier and CTIA keywords; they read the same in either language.
    "stop": [r"stop", r"stop ?all", r"unsubscribe", r"cancel", r"end", r"quit", r"revoke", r"opt ?out"],
    "start": [r"start", r"unstop"],
    "yes": [r"yes"],
    "help": [r"help", r"info"],
    "out": [r"out"],
}
_ENGLISH: dict[KeywordKind, list[str]] = {
    "stop": [
        r"opt me out",
        rf"(?:stop|quit) (?:texting|txting|messaging|sending|contacting)(?: me)?(?: {_EN_OBJECT})?"
        r"(?: (?:again|anymore|any more))?",
        rf"stop {_EN_OBJECT}",
        rf"no more(?: {_EN_OBJECT}| texting)?",
        r"unsubscribe me",
        r"remove me(?: from (?:this|the|your) (?:list|texts))?",
        r"take me off(?: (?:this|the|your) list)?",
        r"(?:do not|dont|don t) (?:text|message|contact|sms) me(?: (?:again|anymore|any more))?",
        r"cancel (?:my |the )?subscription",
    ],
    "help": [r"help me", r"information"],
    "out": [
        r"(?:(?:i am|im|i m|we are|were|we re) )?still out",
        r"(?:(?:i|we) )?(?:still )?(?:have )?no (?:power|electricity|lights)(?: still)?",
        r"(?:the )?(?:power|lights|electricity) (?:is |are )?still (?:out|off)",
    ],
}
_SPANISH: dict[KeywordKind, list[str]] = {
    "stop": [
        r"para|parar|pare|paren|alto|basta|baja|cancelar|detener",
        r"(?:darme|dame|deme|denme|dar|me doy) de baja",
        rf"no mas(?: {_ES_OBJECT})?",
        rf"(?:dejen|deje|deja|dejar) de (?:enviarme|mandarme|escribirme|textearme|enviar|mandar|escribir)"
        rf"(?: {_ES_OBJECT})?",
        rf"no me (?:envien|manden|envies|mandes|envie|mande|escriban|escribas)(?: mas)?"
        rf"(?: {_ES_OBJECT})?(?: mas)?",
        r"(?:cancelar|anular) (?:la |mi )?suscripcion",
    ],
    "help": [r"ayuda", r"informacion"],
    "out": [
        r"(?:(?:sigo|seguimos|todavia|aun) )?sin (?:luz|electricidad|corriente|energia)(?: todavia| aun)?",
        r"(?:no hay|no tengo|no tenemos) (?:luz|electricidad|corriente)(?: todavia| aun)?",
    ],
}


def _compile(cores: list[str]) -> re.Pattern[str]:
    core = "|".join(f"(?:{c})" for c in cores)
    return re.compile(rf"(?:{_COURTESY} )*(?:{core})(?: {_COURTESY})*")


# Tried in this order: the neutral words first, so that "stop" is not reported as English.
_TABLES: list[tuple[Language | None, dict[KeywordKind, list[str]]]] = [
    (None, _NEUTRAL),
    ("en", _ENGLISH),
    ("es", _SPANISH),
]
_PATTERNS = [
    (kind, language, _compile(cores)) for language, table in _TABLES for kind, cores in table.items()
]


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    language: Language | None  # the language of the words used, when they tell (None: STOP, HELP, ...)


def normalize(text: str) -> str:
    """Lower case, accents and punctuation removed, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def classify(body: str) -> Keyword | None:
    """The keyword the whole message is, or None for an ordinary message."""
    text = normalize(body)
    if not text:
        return None
    for kind, language, pattern in _PATTERNS:
        if pattern.fullmatch(text):
            return Keyword(kind, language)
    return None


KEYWORD_MAX_CHARS = 100  # events/types.py: MessageReceived.keyword is a Label


def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_"  # what a regex's \w matches


def _without_edge_punctuation(token: str) -> str:
    """`token` without the non-word characters at either end, in one pass: the regex `^\\W+|\\W+$`
    this replaces tried `\\W+$` from every position of a long run of punctuation (quadratic)."""
    start, end = 0, len(token)
    while start < end and not _is_word_character(token[start]):
        start += 1
    while end > start and not _is_word_character(token[end - 1]):
        end -= 1
    return token[start:end]


def first_word(body: str) -> str | None:
    """The first word, upper-cased and without surrounding punctuation ("out." -> "OUT"): what a
    journey's wait_for matches on. None when the message has no word at all."""
    for token in body.split():
        word = _without_edge_punctuation(token)
        if word:
            return word.upper()[:KEYWORD_MAX_CHARS]
    return None
