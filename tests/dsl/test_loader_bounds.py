"""Hostile journey YAML is refused fast, with a position: alias bombs, deep nesting, size, odd values."""

from __future__ import annotations

import time

import pytest

from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_text
from gridjourney.dsl.yaml_bounds import MAX_DEPTH, MAX_JOURNEY_BYTES


def billion_laughs() -> str:
    """Ten levels of ten aliases each: 10^10 strings once expanded, about 1 KB as written."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, 10):
        previous = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{previous}]")
    lines.append("id: " + ", ".join(["*a9"] * 10).join("[]"))
    return "\n".join(lines) + "\n"


def deeply_nested(levels: int) -> str:
    return "id: x\nsteps: " + "[" * levels + "]" * levels + "\n"


def refusal(text: str) -> JourneyError:
    started = time.monotonic()
    with pytest.raises(JourneyErrors) as caught:
        load_journey_text(text, "hostile.yaml")
    assert time.monotonic() - started < 2, "refusing a hostile file must be fast"
    (error,) = caught.value.errors
    assert error.file == "hostile.yaml"
    return error


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    text = billion_laughs()
    assert len(text.encode()) < 1200
    error = refusal(text)
    assert "anchors" in error.message and (error.line, error.column) == (1, 5)


def test_an_alias_is_refused_even_alone() -> None:
    error = refusal("id: x\nname: &n hello\ndescription: *n\n")
    assert "aliases" in error.message and error.line == 2


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_refused_where_it_goes_too_deep(levels: int) -> None:
    error = refusal(deeply_nested(levels))
    assert "nested deeper" in error.message and error.line == 2


def test_a_file_over_the_size_limit_is_refused() -> None:
    error = refusal("id: x\ndescription: " + "y" * MAX_JOURNEY_BYTES + "\n")
    assert "at most" in error.message and (error.line, error.column) == (1, 1)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("id: x\nname: a\x00b\n", 2, 8),  # a NUL character
        ('id: x\nname: "a\\0b"\n', 2, 7),  # a NUL written as an escape: it would reach events
        ('id: x\nname: "\\ud800"\n', 2, 7),  # a lone surrogate, escaped
        ("id: x\nversion: " + "9" * 5_000 + "\n", 2, 10),  # an integer beyond int()'s digit limit
        ("id: x\nname: 2025-02-30\n", 2, 7),  # a date that does not exist
    ],
)
def test_unusable_characters_and_values_are_located(text: str, line: int, column: int) -> None:
    error = refusal(text)
    assert (error.line, error.column) == (line, column), error


@pytest.mark.parametrize("wait", ["99999999999999w", "-86399999913601"])
def test_a_duration_beyond_timedeltas_range_is_an_error_not_a_crash(wait: str) -> None:
    head = "id: x\npurpose: informational\ntrigger: {event: bill.issued}\n"
    text = head + f"steps:\n  - id: w\n    wait: {wait}\n"
    with pytest.raises(JourneyErrors) as caught:
        load_journey_text(text, "long.yaml")
    (error,) = caught.value.errors
    assert "too long" in error.message and (error.line, error.column) == (6, 11)


@pytest.mark.parametrize(
    ("value", "column"),
    [("1.0e+19", 38), ("-9.3e+18", 38), ("99999999999999999999", 38), (".inf", 38), ("1.0e-400", 38)],
)
def test_a_number_the_store_cannot_give_back_is_refused_where_it_is(value: str, column: int) -> None:
    # Stored as jsonb, 1.0e+19 came back as a 20-digit integer, which the update step then wrote into
    # the customer's attributes and the customers projection refused.
    text = (
        "id: big\npurpose: informational\ntrigger: {event: customer.created}\nsteps:\n"
        "  - id: size\n    update: {attribute: sqft, value: " + value + "}\n"
    )
    error = refusal(text)
    assert (error.line, error.column) == (6, column)
    assert "the number " in error.message or "must be a finite number" in error.message
    for fine in ("1.0e+18", "0.0", "0", "-0.0", "1.0e-300"):
        assert load_journey_text(text.replace(value, fine), "fine.yaml").id == "big"
