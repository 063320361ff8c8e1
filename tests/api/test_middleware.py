"""InputGuard's JSON check: the fast parse (number hooks, no walk) answers exactly as the careful one
(every value walked), for bodies with and without values that cannot be stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridjourney.api.middleware import _carefully_parsed, parsed_json_body

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text and numbers of every kind, the unfit among them: NUL, lone surrogates, 65-bit integers, and
# floats written beyond the finite range.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(categories=["Cs", "Cc", "Lu", "Ll", "Nd", "Zs", "Lo"]), max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
UNFIT_NUMBERS = st.sampled_from(["1e400", "-1e999", "NaN", "Infinity", "-Infinity", "123456789012345678901"])


def _encoded(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@FAST
@given(VALUES, st.booleans())
def test_the_fast_guard_answers_as_the_careful_one(value: Any, ascii_only: bool) -> None:
    raw = _encoded(value, ascii_only)
    assert parsed_json_body(raw) == _carefully_parsed(raw)


@FAST
@given(VALUES, UNFIT_NUMBERS)
def test_an_unfit_number_anywhere_is_named_by_the_fast_guard(value: Any, number: str) -> None:
    raw = json.dumps({"events": [value, {"x": "MARK"}]}).replace('"MARK"', number).encode()
    body, errors = parsed_json_body(raw)
    assert body is None and errors is not None
    assert "events[1].x" in [error.field for error in errors]
    assert (body, errors) == _carefully_parsed(raw)


def test_a_checked_body_is_the_parsed_body() -> None:
    raw = b'{"events": [{"a": 1.5, "b": [9223372036854775807, -2], "c": "9e123 \\\\u", "d": null}]}'
    assert parsed_json_body(raw) == (json.loads(raw), [])
    assert parsed_json_body(b"{not json") == (None, None)
