"""US federal holidays, computed rather than listed so that any year works. One calendar for the DR
baseline (which excludes holidays from like days), the simulator and the scoring features."""

from __future__ import annotations

from datetime import date, timedelta


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Monday = 0) of the month; n = -1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A holiday on Saturday is observed on the Friday before, on Sunday on the Monday after."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def federal_holidays(year: int) -> set[date]:
    """US federal holidays (5 U.S.C. 6103) falling in `year`: the dates themselves and the days they are
    observed on. Juneteenth from 2021. A 1 January on a Saturday is observed on 31 December before."""
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:
        fixed.append(date(year, 6, 19))
    floating = [
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving Day
    ]
    days = set(fixed) | {_observed(d) for d in fixed} | set(floating)
    next_new_year = _observed(date(year + 1, 1, 1))
    if next_new_year.year == year:
        days.add(next_new_year)
    return {d for d in days if d.year == year}


def is_federal_holiday(day: date) -> bool:
    return day in federal_holidays(day.year)


def holidays_between(start: date, end: date) -> set[date]:
    """Federal holidays (and the days they are observed on) in [start, end]."""
    days: set[date] = set()
    for year in range(start.year, end.year + 1):
        days |= {day for day in federal_holidays(year) if start <= day <= end}
    return days
