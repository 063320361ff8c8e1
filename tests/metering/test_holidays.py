"""The holiday calendars: the dates, the days they are observed on, any year, US and England."""

from __future__ import annotations

from datetime import date

import pytest

from gridjourney.metering.holidays import (
    ENGLAND,
    UnknownHolidayCalendar,
    check_calendar,
    federal_holidays,
    holidays_between,
    is_federal_holiday,
    is_holiday,
    public_holidays,
)


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


def test_england_has_its_own_bank_holidays() -> None:
    in_2013 = public_holidays(2013, ENGLAND)
    # Good Friday, Easter Monday, the May and August bank holidays, Boxing Day: none is a US holiday
    for day in (date(2013, 3, 29), date(2013, 4, 1), date(2013, 5, 6), date(2013, 8, 26), date(2013, 12, 26)):
        assert day in in_2013 and is_holiday(day, ENGLAND) and not is_federal_holiday(day)
    assert date(2013, 7, 4) not in in_2013 and is_holiday(date(2013, 7, 4))  # US by default
    assert date(2013, 1, 2) not in in_2013  # Scotland's 2 January is not England's
    assert holidays_between(date(2013, 12, 20), date(2014, 1, 5), ENGLAND) == {
        date(2013, 12, 25), date(2013, 12, 26), date(2014, 1, 1)
    }  # fmt: skip


def test_an_unknown_calendar_is_named() -> None:
    with pytest.raises(UnknownHolidayCalendar, match="'XX'"):
        check_calendar("XX")
    with pytest.raises(UnknownHolidayCalendar, match="'GB-ZZZ'"):
        is_holiday(date(2013, 1, 1), "GB-ZZZ")
