"""Which days may serve as like days for one DR event: one rule for the expected reduction (the DR
target's audience, cohorts/audience.py) and the achieved one (the report and the `dr_performance`
step), so the two are measured against the same baseline.

Beyond the weekday/weekend kind (metering/dr_baseline.py), a day is never a like day when it is a
holiday of the event's calendar, when another DR event touched it (its load was shifted on purpose),
or when the program names it (the London trial's Low-price days, when homes were asked to use more).
The calendar and the named days come from the cohort run's subject: `holiday_calendar` (else the
utility's, settings.holiday_calendar: US federal unless set) and `not_like_days` (ISO dates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gridjourney.metering.dr_baseline import event_day_hours
from gridjourney.metering.holidays import US, check_calendar

HOLIDAY_CALENDAR = "holiday_calendar"
NOT_LIKE_DAYS = "not_like_days"


class BadLikeDayRule(ValueError):
    """A run's subject names a calendar the library does not know, or a day that is not a date."""


@dataclass(frozen=True)
class LikeDayRule:
    holiday_calendar: str = US
    other_events: tuple[tuple[datetime, datetime], ...] = ()
    not_like_days: frozenset[date] = field(default_factory=frozenset)

    def excluded_days(self, time_zone: str) -> set[date]:
        """The local days that are never like days (holidays aside)."""
        days = set(self.not_like_days)
        for start, end in self.other_events:
            days |= {day for day, _ in event_day_hours(start, end, time_zone)}
        return days


def rule_of(
    subject: Mapping[str, Any], other_events: Iterable[tuple[datetime, datetime]], default_calendar: str = US
) -> LikeDayRule:
    """The rule of a run with this subject, excluding the days of `other_events`."""
    calendar, days = subject_terms(subject, default_calendar)
    return LikeDayRule(holiday_calendar=calendar, other_events=tuple(other_events), not_like_days=days)


def subject_terms(subject: Mapping[str, Any], default_calendar: str = US) -> tuple[str, frozenset[date]]:
    """The calendar (`default_calendar` when the subject names none) and the named days of a run's
    subject (BadLikeDayRule when they are not valid)."""
    calendar = str(subject.get(HOLIDAY_CALENDAR) or default_calendar)
    try:
        check_calendar(calendar)
        days = frozenset(date.fromisoformat(str(day)) for day in subject.get(NOT_LIKE_DAYS) or [])
    except ValueError as error:
        raise BadLikeDayRule(f"{HOLIDAY_CALENDAR}/{NOT_LIKE_DAYS} of the run: {error}") from error
    return calendar, days
