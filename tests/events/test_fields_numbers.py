"""The number rule of events/fields.py for Python callers (models, CLI): what jsonb gives back as sent."""

from __future__ import annotations

import pytest

from gridjourney.events.fields import FLOAT_LIMIT, json_number_problem, json_value_problem, unstorable_number


@pytest.mark.parametrize("value", [1e19, -1e19, FLOAT_LIMIT, -FLOAT_LIMIT, 1e308, float("nan"), float("inf")])
def test_a_float_jsonb_cannot_give_back_is_a_problem_flat_or_nested(value: float) -> None:
    flat = json_value_problem({"x": value})
    nested = json_value_problem({"a": {"b": [1, {"c": value}]}})
    assert flat is not None and flat.startswith("x ")
    assert nested is not None and nested.startswith("a.b[1].c ")


@pytest.mark.parametrize("value", [5e-324, 1e-320, 0.0, -0.0, 1.5, 1e17, 9.2e18, -9.2e18])
def test_a_float_jsonb_gives_back_is_kept(value: float) -> None:
    assert json_value_problem({"x": value}) is None
    assert json_value_problem({"a": [{"x": value}]}) is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("0", True),
        ("-0.0", True),
        ("0e10", True),
        ("0.000E-3", True),
        ("1e-400", False),
        ("-2.5E-999", False),
        ("1e19", False),
    ],
)
def test_a_number_written_as_text_is_judged_by_what_it_said(text: str, kept: bool) -> None:
    assert (json_number_problem(text, float(text)) is None) is kept


def test_an_unstorable_number_is_found_at_any_depth_and_named() -> None:
    deep: dict[str, object] = {"leaf": 1e19}
    for level in range(20):  # deeper than json_value_problem's bound: a journey definition is
        deep = {f"l{level}": [deep]}
    found = unstorable_number({"steps": [{"id": "a"}, deep]})
    assert found is not None and found.startswith("steps[1].l19[0].l18[0]") and "2^63" in found
    assert unstorable_number({"steps": [{"update": {"value": 2**64}}]}) == (
        "steps[0].update.value is out of range (64-bit integers only)"
    )
    assert unstorable_number({"weights": [1.5, 9.2e18, -(2**63) + 1, True, None, "1e19"]}) is None
