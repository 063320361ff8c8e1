"""The federal holiday calendar: the dates, the days they are observed on, and any year."""

from __future__ import annotations

from datetime import date

from gridjourney.metering.holidays import federal_holidays, holidays_between, is_federal_holiday


def test_federal_holidays() -> None:
    assert sorted(federal_holidays(2024)) == [
        date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 5, 27), date(2024, 6, 19),
        date(2024, 7, 4), date(2024, 9, 2), date(2024, 10, 14), date(2024, 11, 11), date(2024, 11, 28),
        date(2024, 12, 25),
    ]  # fmt: skip
    in_2021 = federal_holidays(2021)
    # 4 July 2021 was a Sunday (observed Monday 5th); Christmas a Saturday (observed Friday 24th); and
    # 1 January 2022 a Saturday, observed on 31 December 2021.
    assert {date(2021, 7, 5), date(2021, 12, 24), date(2021, 12, 31)} <= in_2021
    assert date(2020, 6, 19) not in federal_holidays(2020)  # Juneteenth only from 2021


def test_observed_days_are_holidays_too() -> None:
    # 2022: Juneteenth and Christmas on Sundays, observed on the Mondays after
    assert is_federal_holiday(date(2022, 6, 20)) and is_federal_holiday(date(2022, 12, 26))
    assert not is_federal_holiday(date(2022, 12, 27))
    assert is_federal_holiday(date(2040, 11, 22))  # Thanksgiving, far ahead: computed, not listed


def test_holidays_between_spans_years() -> None:
    days = holidays_between(date(2024, 12, 20), date(2025, 1, 25))
    assert days == {date(2024, 12, 25), date(2025, 1, 1), date(2025, 1, 20)}
