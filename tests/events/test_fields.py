"""Text fields (events/fields.py): what cannot be stored as text is named, whatever else the text holds;
flat payloads are judged by the quick check exactly as the walk judges them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridjourney.events.fields import (
    INT64_MAX,
    JSON_MAX_KEY_LENGTH,
    JSON_MAX_STRING_LENGTH,
    clean_text_problem,
    json_value_problem,
)

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


TEXTS = st.one_of(
    st.text(alphabet=st.sampled_from("ab\x00\ud800é"), max_size=5),
    st.sampled_from(["k" * JSON_MAX_KEY_LENGTH, "k" * (JSON_MAX_KEY_LENGTH + 1)]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.integers(min_value=-INT64_MAX - 2, max_value=INT64_MAX + 2),
    st.sampled_from([INT64_MAX, -INT64_MAX, INT64_MAX + 1, -INT64_MAX - 1]),
    TEXTS,
    st.sampled_from(["s" * JSON_MAX_STRING_LENGTH, "s" * (JSON_MAX_STRING_LENGTH + 1)]),
)


@given(st.dictionaries(TEXTS, SCALARS, max_size=4))
def test_a_flat_payload_is_judged_as_the_walk_judges_it(payload: dict[str, object]) -> None:
    # Inside a list the payload always goes through the walk; alone, through the quick check first.
    walked = json_value_problem([payload])
    assert (json_value_problem(payload) is None) == (walked is None)
