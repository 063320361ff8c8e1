"""Public holidays from the `holidays` library, with the days they are observed on. One calendar module
for the DR baseline (which excludes holidays from like days), the simulator and the scoring features.

A calendar is named by its country code, optionally with a subdivision: "US" (federal), "GB-ENG"
(England and Wales' bank holidays share most days, but not Scotland's or Northern Ireland's).
"""

from __future__ import annotations

from datetime import date
from functools import cache

import holidays as calendars

US = "US"
ENGLAND = "GB-ENG"


class UnknownHolidayCalendar(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no holiday calendar {name!r} (a country code, e.g. 'US' or 'GB-ENG')")
        self.name = name


@cache
def _holidays(calendar: str, year: int) -> frozenset[date]:
    # The US calendar without a state is the federal one (5 U.S.C. 6103): Juneteenth from 2021, and a
    # 1 January on a Saturday observed on 31 December of the year before.
    country, _, subdivision = calendar.partition("-")
    try:
        days = calendars.country_holidays(country, subdiv=subdivision or None, years=year, observed=True)
    except NotImplementedError as error:  # the library's answer to an unknown country or subdivision
        raise UnknownHolidayCalendar(calendar) from error
    return frozenset(day for day in days if day.year == year)


def check_calendar(calendar: str) -> str:
    """The calendar's name, or UnknownHolidayCalendar."""
    _holidays(calendar, 2000)
    return calendar


def public_holidays(year: int, calendar: str = US) -> set[date]:
    """The calendar's holidays falling in `year`: the dates themselves and the days they are observed on."""
    return set(_holidays(calendar, year))


def is_holiday(day: date, calendar: str = US) -> bool:
    return day in _holidays(calendar, day.year)


def federal_holidays(year: int) -> set[date]:
    """US federal holidays falling in `year`."""
    return public_holidays(year, US)


def is_federal_holiday(day: date) -> bool:
    return is_holiday(day, US)


def holidays_between(start: date, end: date, calendar: str = US) -> set[date]:
    """The calendar's holidays (and the days they are observed on) in [start, end]."""
    days: set[date] = set()
    for year in range(start.year, end.year + 1):
        days |= {day for day in _holidays(calendar, year) if start <= day <= end}
    return days
