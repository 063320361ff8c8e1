"""Errors about one name point at it inside the expression, when the file has the expression on one
line as written; otherwise at the expression."""

from __future__ import annotations

from gridjourney.dsl.loader import Positions
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


def test_a_folded_expression_is_reported_at_its_start() -> None:
    lines = ["when: >", "  customer.segmnet == 'flat'", "  and customer.locale == 'es'"]
    positions = Positions("j.yaml", {("when",): (1, 7)}, lines=lines)
    expr = "customer.segmnet == 'flat' and customer.locale == 'es'\n"
    assert pointed_error(positions, ("when",), expr, PROBLEM, "hint").column == 7


def test_without_the_files_lines_the_expression_is_the_place() -> None:
    positions = Positions("<journey>", {("when",): (3, 9)})
    assert pointed_error(positions, ("when",), "customer.segmnet", PROBLEM, "hint").column == 9
