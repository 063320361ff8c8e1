"""Inbound keywords: whole-message matches only, whatever the case, accents and punctuation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridjourney.inbound.keywords import KEYWORD_MAX_CHARS, Keyword, classify, first_word, normalize

CARRIER_STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT"]
ENGLISH_OPT_OUTS = [
    "stop texting me",
    "Stop sending me texts",
    "stop messages",
    "no more",
    "No more texts please",
    "Don't text me again",
    "remove me from your list",
    "take me off the list",
    "unsubscribe me",
    "opt me out",
]
SPANISH_OPT_OUTS = [
    "no más mensajes",
    "No mas",
    "dejen de enviarme",
    "Dejen de enviarme mensajes, por favor",
    "baja",
    "darme de baja",
    "no me envíen más mensajes",
    "cancelar mi suscripción",
    "Alto",
]
ORDINARY = [
    "I can't stop the outage",
    "stop by the office tomorrow",
    "end of the month?",
    "no more outages please, it's the third this week",
    "cancel my appointment",
    "Para cuándo vuelve la luz?",
    "yes the power is back but the meter is blinking",
    "help is on the way, thanks",
    "out of town until Friday",
    "the power is out at my neighbour's",
    "no power bill this month?",
    "thanks",
    "",
    "!!!",
]


@pytest.mark.parametrize("body", CARRIER_STOP_WORDS)
def test_carrier_stop_words_are_stop_in_any_language(body: str) -> None:
    assert classify(body) == Keyword("stop", None)


@pytest.mark.parametrize("body", ENGLISH_OPT_OUTS)
def test_plain_english_opt_outs_are_stop(body: str) -> None:
    assert classify(body) == Keyword("stop", "en")


@pytest.mark.parametrize("body", SPANISH_OPT_OUTS)
def test_plain_spanish_opt_outs_are_stop(body: str) -> None:
    assert classify(body) == Keyword("stop", "es")


@pytest.mark.parametrize("body", ORDINARY)
def test_a_keyword_inside_a_sentence_is_an_ordinary_message(body: str) -> None:
    assert classify(body) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("START", Keyword("start", None)),
        ("unstop", Keyword("start", None)),
        ("Yes!", Keyword("yes", None)),
        ("yes please", Keyword("yes", None)),
        ("HELP", Keyword("help", None)),
        ("info", Keyword("help", None)),
        ("Ayuda", Keyword("help", "es")),
        ("ayuda por favor", Keyword("help", "es")),
    ],
)
def test_start_yes_and_help(body: str, expected: Keyword) -> None:
    assert classify(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("OUT", Keyword("out", None)),
        ("out please", Keyword("out", None)),
        ("Still out", Keyword("out", "en")),
        ("STILL OUT!", Keyword("out", "en")),
        ("we're still out", Keyword("out", "en")),
        ("No power", Keyword("out", "en")),
        ("I still have no power", Keyword("out", "en")),
        ("power is still out", Keyword("out", "en")),
        ("sin luz", Keyword("out", "es")),
        ("Sigo sin luz", Keyword("out", "es")),
        ("no tenemos luz todavía", Keyword("out", "es")),
    ],
)
def test_out_and_its_plain_forms_report_no_power(body: str, expected: Keyword) -> None:
    assert classify(body) == expected


@pytest.mark.parametrize("body", ["OPT OUT", "opt-out", "Stop", "no more"])
def test_an_opt_out_with_out_in_it_stays_stop(body: str) -> None:
    keyword = classify(body)
    assert keyword is not None and keyword.kind == "stop"


def test_case_accents_punctuation_and_courtesy_are_set_aside() -> None:
    for body in ["stop", "Stop!", " STOP. ", "stóp", "¡Stop!", "please stop", "stop now, thank you"]:
        assert classify(body) == Keyword("stop", None), body
    assert normalize("¡No MÁS   mensajes!") == "no mas mensajes"


KEYWORDS = [
    *CARRIER_STOP_WORDS,
    *ENGLISH_OPT_OUTS,
    *SPANISH_OPT_OUTS,
    "START",
    "UNSTOP",
    "YES",
    "HELP",
    "INFO",
    "OUT",
    "NO POWER",
    "sin luz",
]


@given(
    phrase=st.sampled_from(KEYWORDS),
    flips=st.lists(st.booleans(), min_size=60, max_size=60),
    before=st.text(alphabet=" .,!?¡¿-\t\n", max_size=4),
    after=st.text(alphabet=" .,!?¡¿-\t\n", max_size=4),
)
def test_classification_ignores_case_and_surrounding_punctuation(
    phrase: str, flips: list[bool], before: str, after: str
) -> None:
    varied = "".join(c.upper() if flip else c.lower() for c, flip in zip(phrase, flips, strict=False))
    varied += phrase[len(flips) :]
    assert classify(before + varied + after) == classify(phrase) is not None


@given(
    phrase=st.sampled_from(KEYWORDS),
    word=st.sampled_from(["outage", "power", "bill", "tomorrow", "lights", "luz", "factura", "why"]),
    at_start=st.booleans(),
)
def test_a_keyword_with_another_word_is_not_a_keyword(phrase: str, word: str, at_start: bool) -> None:
    body = f"{word} {phrase}" if at_start else f"{phrase} {word}"
    assert classify(body) is None


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("out", "OUT"),
        ("Out. Still no power", "OUT"),
        ("  ¿sí?", "SÍ"),
        ("!!! 2", "2"),
        ("", None),
        ("?!", None),
    ],
)
def test_first_word(body: str, word: str | None) -> None:
    assert first_word(body) == word


def test_first_word_fits_a_label() -> None:
    word = first_word("x" * 500)
    assert word is not None and len(word) == 100


@given(st.text(max_size=40))
def test_the_first_word_is_the_token_without_its_edge_punctuation_as_the_regex_gave(body: str) -> None:
    # The regex this replaced, as the reference: its \W is "not isalnum and not _", for any Unicode.
    edges = re.compile(r"^\W+|\W+$")
    words = [edges.sub("", token) for token in body.split()]
    expected = next((word.upper()[:KEYWORD_MAX_CHARS] for word in words if word), None)
    assert first_word(body) == expected
