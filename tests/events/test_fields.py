"""Text fields (events/fields.py): what cannot be stored as text is named, whatever else the text holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridjourney.events.fields import clean_text_problem

NUL = "contains a NUL character (\\u0000)"
SURROGATE = "contains a lone UTF-16 surrogate (not valid Unicode)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", None),
        ("plain ascii", None),
        ("José ñ 😀", None),
        ("a\x00b", NUL),
        ("José\x00", NUL),
        ("\ud800", SURROGATE),
        ("ascii then \udfff", SURROGATE),
    ],
)
def test_the_problem_of_a_text(value: str, problem: str | None) -> None:
    assert clean_text_problem(value) == problem


@given(st.text(alphabet=st.one_of(st.characters(exclude_categories=()), st.sampled_from("a\x00\ud800é"))))
def test_a_text_is_refused_exactly_when_it_cannot_be_stored(value: str) -> None:
    try:
        value.encode("utf-8")
        encodes = True
    except UnicodeEncodeError:
        encodes = False
    assert (clean_text_problem(value) is None) == (encodes and "\x00" not in value)
