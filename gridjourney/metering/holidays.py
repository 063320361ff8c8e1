"""US federal holidays from the `holidays` library's US calendar, with the days they are observed on.
One calendar for the DR baseline (which excludes holidays from like days), the simulator and the
scoring features."""

from __future__ import annotations

from datetime import date
from functools import cache

import holidays as calendars


@cache
def _federal_holidays(year: int) -> frozenset[date]:
    # The US calendar without a state is the federal one (5 U.S.C. 6103): Juneteenth from 2021, and a
    # 1 January on a Saturday observed on 31 December of the year before.
    calendar = calendars.country_holidays("US", years=year, observed=True)
    return frozenset(day for day in calendar if day.year == year)


def federal_holidays(year: int) -> set[date]:
    """US federal holidays falling in `year`: the dates themselves and the days they are observed on."""
    return set(_federal_holidays(year))


def is_federal_holiday(day: date) -> bool:
    return day in _federal_holidays(day.year)


def holidays_between(start: date, end: date) -> set[date]:
    """Federal holidays (and the days they are observed on) in [start, end]."""
    days: set[date] = set()
    for year in range(start.year, end.year + 1):
        days |= {day for day in _federal_holidays(year) if start <= day <= end}
    return days
