"""The `schedule` trigger: a journey that starts at set times, for an audience, as a cohort run.

    trigger:
      schedule: {month: november, day: 1, at: "10:00"}     # or {cron: "0 10 1 11 *"}
      audience: "customer.heating == 'electric'"

A schedule is a calendar (`at`, with `month`, `day` or `weekday` narrowing it) or a five-field cron
expression (minute hour day month weekday), in the utility's zone (the policy's
`default_time_zone`) unless it names another IANA zone. Each time it fires, one cohort run (the
cohort machinery of `mode: cohort`) goes over the customers `audience` selects; templates see the
fire as `event`: `event.scheduled_for` (ISO 8601) and `event.journey_id`.

The model is pure data (the workflows import it); the checks that need the zone database and cron
arithmetic (`schedule_problems`, `fire_times`) run at validation and when schedules are synced.
Refused: a schedule that never fires, one that fires more often than hourly, an unknown zone, and
cron syntax whose meaning Temporal (which runs the schedule) and cron differ on.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEDULE_EVENT = "schedule.fired"  # the `event.type` a fire gives its run
SCHEDULE_EVENT_FIELDS = frozenset({"scheduled_for", "journey_id", "type", "occurred_at"})
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")  # fmt: skip
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # cron: 0 = Sunday
# The longest gap between two fires of a schedule that fires at all: far enough to meet 29 February
# (2096 to 2104 is the longest) and every weekday of every month.
NEVER_FIRES_HORIZON = timedelta(days=8 * 366)
# Cron syntax Temporal reads differently from cron (or refuses): L, W, # and ? in the day fields.
_EXTENSIONS = re.compile(r"[LW#?]", re.IGNORECASE)
CLOCK_PATTERN = r"^([01]?\d|2[0-3]):([0-5]\d)$"  # `at`: HH:MM, 24-hour
_CLOCK = re.compile(CLOCK_PATTERN)


def _named(value: Any, names: tuple[str, ...], first: int) -> Any:
    """`november`/`nov` → 11, `monday`/`mon` → 1; a number stays as it is."""
    if isinstance(value, str) and not value.isdigit():
        word = value.strip().lower()
        for number, name in enumerate(names, start=first):
            if word in (name, name[:3]):
                return number
        raise ValueError(f"`{value}` is not one of {', '.join(names)}")
    return value


def _listed(value: Any) -> Any:
    return value if value is None or isinstance(value, list) else [value]


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = Field(
        None,
        max_length=200,  # the Temporal Schedule carries it; a 40 KB list of minutes is no schedule
        description="Five cron fields: minute hour day-of-month month day-of-week, e.g. "
        '"0 10 1 11 *" (10:00 on 1 November). At most one minute per hour; not with `at`.',
    )
    at: str | None = Field(
        None, description='The local time of day it fires, "HH:MM" (24-hour), e.g. "10:00".'
    )
    month: list[int] | None = Field(
        None,
        max_length=12,
        description="With `at`: only in these months (a name, `november`, or a number, 11; one or a "
        "list). Default: every month.",
    )
    day: list[int] | None = Field(
        None, max_length=31, description="With `at`: only on these days of the month (1-31; one or a list)."
    )
    weekday: list[int] | None = Field(
        None,
        max_length=7,
        description="With `at`: only on these days of the week (`monday`, or a list); not with `day`.",
    )
    zone: str | None = Field(
        None,
        max_length=64,
        description="The IANA time zone the times are in, e.g. America/New_York. Default: the "
        "utility's (the compliance policy's `default_time_zone`).",
    )

    @field_validator("month", mode="before")
    @classmethod
    def _months(cls, value: Any) -> Any:
        listed = _listed(value)
        return listed if listed is None else [_named(item, MONTHS, 1) for item in listed]

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        listed = _listed(value)
        return listed if listed is None else [_named(item, WEEKDAYS, 0) for item in listed]

    @field_validator("day", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("month")
    @classmethod
    def _month_range(cls, value: list[int] | None) -> list[int] | None:
        return _in_range(value, 1, 12, "a month")

    @field_validator("day")
    @classmethod
    def _day_range(cls, value: list[int] | None) -> list[int] | None:
        return _in_range(value, 1, 31, "a day of the month")

    @field_validator("weekday")
    @classmethod
    def _weekday_range(cls, value: list[int] | None) -> list[int] | None:
        return _in_range(value, 0, 6, "a day of the week (0 = Sunday)")

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not _CLOCK.match(value.strip()):
            raise ValueError(f'`{value}` is not a time of day: write "HH:MM", e.g. "10:00"')
        return value

    @model_validator(mode="after")
    def _one_form(self) -> ScheduleSpec:
        calendar = [n for n in ("month", "day", "weekday") if getattr(self, n) is not None]
        if (self.cron is None) == (self.at is None):
            raise ValueError('give either `cron` ("0 10 1 11 *") or `at` ("10:00", with month/day/weekday)')
        if self.cron is not None and calendar:
            raise ValueError(f"`{calendar[0]}` goes with `at`; a cron expression has its own fields")
        if self.day is not None and self.weekday is not None:
            raise ValueError("give `day` (of the month) or `weekday`, not both")
        return self

    def cron_expression(self) -> str:
        """The schedule as one five-field cron expression (the calendar form too)."""
        if self.cron is not None:
            return " ".join(self.cron.split())
        assert self.at is not None
        hour, minute = (int(part) for part in self.at.strip().split(":"))
        fields = [self.day, self.month, self.weekday]
        dom, month, dow = ("*" if f is None else ",".join(str(v) for v in sorted(set(f))) for f in fields)
        return f"{minute} {hour} {dom} {month} {dow}"


def _in_range(value: list[int] | None, low: int, high: int, what: str) -> list[int] | None:
    if value is not None:
        if not value:
            raise ValueError(f"give at least one {what.split(' (')[0]}, or leave the key out")
        bad = [v for v in value if not low <= v <= high]
        if bad:
            raise ValueError(f"{bad[0]} is not {what} ({low}-{high})")
    return value


@dataclass(frozen=True)
class ScheduleProblem:
    key: str | None  # the key of `schedule` it is about (None: the schedule as a whole)
    message: str
    hint: str


def schedule_zone(spec: ScheduleSpec, default_zone: str) -> str:
    return spec.zone or default_zone


def schedule_problems(spec: ScheduleSpec, default_zone: str) -> list[ScheduleProblem]:
    """Why `spec` cannot run: syntax, never firing, firing more often than hourly, an unknown zone."""
    problems: list[ScheduleProblem] = []
    zone = _zone(schedule_zone(spec, default_zone))
    if zone is None:
        problems.append(_zone_problem(spec, default_zone))
    key = "cron" if spec.cron is not None else None
    expression = spec.cron_expression()
    fields = expression.split()
    if len(fields) != 5:
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} has {len(fields)} fields; a schedule's cron has 5",
                'minute hour day-of-month month day-of-week, e.g. "0 10 1 11 *" (10:00 on 1 November)',
            )
        )
        return problems
    if _EXTENSIONS.search(" ".join(fields[2:])) or expression.startswith("@"):
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} uses cron extensions (L, W, #, ? or @...) the scheduler does not read "
                "as cron does",
                "write plain fields: numbers, names, *, ranges (1-7), lists (1,15) and steps (*/2)",
            )
        )
        return problems
    if fields[2] != "*" and fields[4] != "*":
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} names both days of the month ({fields[2]}) and days of the week "
                f"({fields[4]}): cron fires on either, the scheduler on both",
                "keep one of them (`*` in the other)",
            )
        )
        return problems
    from cronsim import CronSim, CronSimError  # cron arithmetic: validation and sync only

    try:
        parsed = CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as error:
        reason = str(error).rstrip(".")
        # cronsim says "bad day-of-month" both for 30 February (a real day no month named has) and
        # for a day that is no day at all (32, a step of 0): only the first never fires
        never = reason.lower() == "bad day-of-month" and _days_of_month_valid(fields[2])
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} never fires: no month it names has that day"
                if never
                else f"{expression!r} is not a cron expression: {reason.lower()}",
                "check the day against the month (February has 28 or 29 days)"
                if never
                else 'minute hour day-of-month month day-of-week, e.g. "0 10 1 11 *"',
            )
        )
        return problems
    if len(parsed.minutes) > 1:
        shown = ", ".join(str(m) for m in sorted(parsed.minutes)[:6])
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} fires {len(parsed.minutes)} times an hour (minutes {shown}): more often "
                "than hourly",
                'a scheduled journey fires at most once an hour: give one minute, e.g. "0 10 * * *"',
            )
        )
    elif zone is not None and not fire_times(spec, default_zone, datetime.now(zone), 1):
        problems.append(
            ScheduleProblem(
                key,
                f"{expression!r} never fires",
                "check the day against the month (February has 28 or 29 days)",
            )
        )
    return problems


def _days_of_month_valid(field: str) -> bool:
    """Whether each part of a day-of-month field (`*`, `d`, `d-d`, with `/step`) names days 1-31."""
    for part in field.split(","):
        days, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        bounds = [] if days == "*" else days.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and 1 <= int(b) <= 31 for b in bounds):
            return False
    return True


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _zone_problem(spec: ScheduleSpec, default_zone: str) -> ScheduleProblem:
    import difflib

    name = schedule_zone(spec, default_zone)
    close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else "an IANA zone, e.g. America/New_York"
    where = "zone" if spec.zone is not None else None
    return ScheduleProblem(where, f"unknown time zone `{name}`", hint)


def fire_times(spec: ScheduleSpec, default_zone: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after`, in the schedule's zone. Fewer: it fires no more
    (no fire came within NEVER_FIRES_HORIZON of `after` or of the fire before). The horizon bounds
    the gap between fires, never the span of all of them: a weekly schedule gives its 1,000 fires
    over 19 years. The schedule must have no problems."""
    from cronsim import CronSim

    zone = zoneinfo.ZoneInfo(schedule_zone(spec, default_zone))
    previous = after.astimezone(zone).replace(second=0, microsecond=0)
    found: list[datetime] = []
    fires = CronSim(spec.cron_expression(), previous)
    while len(found) < count:
        try:
            fire = next(fires, None)
        except OverflowError:  # past 9999-12-31: Python's calendar ends
            break
        if fire is None or fire - previous > NEVER_FIRES_HORIZON:
            break
        found.append(fire)
        previous = fire
    return found


def next_runs_text(spec: ScheduleSpec, default_zone: str, after: datetime, count: int = 3) -> str:
    """`'0 10 1 11 *' in America/Chicago, next runs: 2026-11-01 10:00 CST, ...` (preview, listings)."""
    zone = schedule_zone(spec, default_zone)
    head = f"{spec.cron_expression()!r} in {zone}"
    if schedule_problems(spec, default_zone):
        return f"{head}: cannot run (see `gridjourney journeys validate`)"
    runs = ", ".join(
        fire.strftime("%Y-%m-%d %H:%M %Z") for fire in fire_times(spec, default_zone, after, count)
    )
    return f"{head}, next runs: {runs}"
