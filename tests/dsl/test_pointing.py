"""Errors about one name point at it inside the expression, however the file writes the expression
(escapes, quotes doubled, over lines, as a block); where the file does not read as the expression, at
the expression."""

from __future__ import annotations

import pytest

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import Positions, load_journey_with_positions
from gridjourney.dsl.pointing import pointed_error

PROBLEM = "`customer` has no field `segmnet`"


def test_a_name_on_the_expressions_line_is_pointed_at() -> None:
    positions = Positions("j.yaml", {("when",): (1, 7)}, lines=["when: \"customer.segmnet == 'flat'\""])
    error = pointed_error(positions, ("when",), "customer.segmnet == 'flat'", PROBLEM, "hint")
    assert (error.line, error.column, error.message) == (1, 17, PROBLEM)


def test_a_value_compared_is_pointed_at_its_quote() -> None:
    positions = Positions("j.yaml", {("when",): (1, 7)}, lines=["when: customer.segment == 'evening_peek'"])
    problem = "`customer.segment` is never 'evening_peek'; did you mean `evening_peak`?"
    error = pointed_error(positions, ("when",), "customer.segment == 'evening_peek'", problem, "hint")
    assert error.column == 27


def test_a_name_in_a_folded_expression_is_pointed_at_on_its_line() -> None:
    lines = ["when: >", "  customer.locale == 'es' and", "  customer.segmnet == 'flat'"]
    positions = Positions("j.yaml", {("when",): (1, 7)}, lines=lines)
    expr = "customer.locale == 'es' and customer.segmnet == 'flat'\n"
    error = pointed_error(positions, ("when",), expr, PROBLEM, "hint")
    assert (error.line, error.column) == (3, 12)


def test_where_the_file_does_not_read_as_the_expression_it_is_the_place() -> None:
    positions = Positions("j.yaml", {("when",): (1, 7)}, lines=["when: \"customer.segment == 'flat'\""])
    error = pointed_error(positions, ("when",), "customer.segmnet == 'flat'", PROBLEM, "hint")
    assert (error.line, error.column) == (1, 7)


def test_without_the_files_lines_the_expression_is_the_place() -> None:
    positions = Positions("<journey>", {("when",): (3, 9)})
    assert pointed_error(positions, ("when",), "customer.segmnet", PROBLEM, "hint").column == 9


# Lines 1-4; the steps start on line 5, the branch's `when` is on line 7.
HEAD = """\
id: payment_reminder
purpose: informational
trigger: {event: bill.past_due, when: "event.days_past_due >= 5"}
steps:
  - id: route
    branch:
"""


def _pointed(branch: str) -> list[tuple[int, int]]:
    loaded = load_journey_with_positions(HEAD + branch, "j.yaml")
    errors = check_journey(loaded.definition, loaded.positions, None)
    assert errors and all("segmnet" in error.message for error in errors), [str(e) for e in errors]
    return [(error.line, error.column) for error in errors]


@pytest.mark.parametrize(
    "when",
    [
        r'"customer.name == \"x\" and customer.segmnet == \"flat\""',
        r'"customer.name == \u0027\u00e9\u0027 and customer.segmnet == \"flat\""',
        "'customer.name == ''x'' and customer.segmnet == ''flat'''",
        "customer.name == 'x' and customer.segmnet == 'flat'",
    ],
)
def test_a_name_is_pointed_at_through_the_strings_escapes(when: str) -> None:
    line = f"      - when: {when}"
    assert _pointed(f"{line}\n        goto: end\n") == [(7, line.index("segmnet") + 1)]


def test_a_name_is_pointed_at_in_a_literal_block() -> None:
    branch = """\
      - when: |
          customer.name == 'x' and (
            customer.segmnet == 'flat')
        goto: end
"""
    assert _pointed(branch) == [(9, 22)]


def test_a_name_is_pointed_at_on_a_quoted_strings_next_line() -> None:
    # blanks at the line's end, and at the next line's start, fold away
    branch = '      - when: "customer.name == \\"x\\"   \n'
    branch += "          and   customer.segmnet == 'flat'\"\n        goto: end\n"
    assert _pointed(branch) == [(8, 26)]
