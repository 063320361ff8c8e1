"""What the tariff models cannot check alone, each problem at the path it is about.

A tariff has exactly one kind; tiers increase and only the last is open-ended; every month is in
exactly one season; in each season and day type, the periods' hours cover the 24 hours once, in
whole hours (reads are priced by the hour); every period has a rate and every rate a period; the
default tariff and the holiday calendar exist. Pure functions over the validated file.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridjourney.dsl.windows import TimeWindow
from gridjourney.metering.holidays import UnknownHolidayCalendar, check_calendar
from gridjourney.tariffs.model import KINDS, Season, Tariff, TariffFile, Tiered

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    path: Path
    message: str
    hint: str
    key: bool = False  # located at the mapping key rather than its value


def check_file(tariffs: TariffFile) -> list[Finding]:
    found: list[Finding] = []
    if tariffs.default not in tariffs.tariffs:
        found.append(
            Finding(
                ("default",),
                f"unknown tariff `{tariffs.default}`",
                f"name one of {', '.join(tariffs.tariffs)}",
            )
        )
    try:
        check_calendar(tariffs.holidays)
    except UnknownHolidayCalendar as error:
        found.append(Finding(("holidays",), str(error), "e.g. US, US-CA, GB-ENG, CA-ON"))
    for name, tariff in tariffs.tariffs.items():
        found += _check_tariff(("tariffs", name), tariff)
    return found


def _check_tariff(path: Path, tariff: Tariff) -> list[Finding]:
    kinds = [kind for kind in KINDS if getattr(tariff, kind) is not None]
    if len(kinds) != 1:
        said = f"has {len(kinds)}: {', '.join(kinds)}" if kinds else "has none"
        return [
            Finding(path, f"a tariff has one kind of energy charge, this one {said}", _KIND_HINT, key=True)
        ]
    if tariff.tiered is not None:
        return _check_tiers((*path, "tiered", "tiers"), tariff.tiered)
    if tariff.time_of_use is not None:
        return _check_seasons((*path, "time_of_use"), tariff.time_of_use)
    return []


_KIND_HINT = "give one of `flat: {rate: 0.15}`, `tiered: {tiers: [...]}` or `time_of_use: {season: ...}`"


def _check_tiers(path: Path, tiered: Tiered) -> list[Finding]:
    found: list[Finding] = []
    last = len(tiered.tiers) - 1
    previous = None
    for index, tier in enumerate(tiered.tiers):
        if index < last and tier.up_to is None:
            found.append(
                Finding((*path, index), "only the last tier may leave out `up_to`", "give each tier's limit")
            )
        if index == last and tier.up_to is not None:
            found.append(
                Finding(
                    (*path, index, "up_to"),
                    "the last tier takes the rest of the month's kWh: it has no `up_to`",
                    "remove `up_to`, or add a last tier with only a rate",
                )
            )
        if tier.up_to is not None and previous is not None and tier.up_to <= previous:
            found.append(
                Finding(
                    (*path, index, "up_to"),
                    f"tiers not increasing: {tier.up_to} kWh after {previous} kWh",
                    "list the tiers in increasing order of `up_to`",
                )
            )
        previous = tier.up_to if tier.up_to is not None else previous
    return found


def _check_seasons(path: Path, seasons: dict[str, Season]) -> list[Finding]:
    found: list[Finding] = []
    owner: dict[int, str] = {}
    for name, season in seasons.items():
        for index, month in enumerate(season.months):
            if month in owner:
                found.append(
                    Finding(
                        (*path, name, "months", index),
                        f"month {month} is in two seasons: {owner[month]} and {name}",
                        "put each month in one season",
                    )
                )
            owner.setdefault(month, name)
        found += _check_season((*path, name), season)
    missing = sorted(set(range(1, 13)) - set(owner))
    if missing:
        listed = ", ".join(str(m) for m in missing)
        found.append(
            Finding(path, f"months {listed} are in no season", "every month 1-12 needs a season", key=True)
        )
    return found


def _check_season(path: Path, season: Season) -> list[Finding]:
    found: list[Finding] = []
    used: set[str] = set()
    for day_type in ("weekdays", "weekends"):
        schedule = getattr(season, day_type)
        if schedule is None:
            continue
        where = (*path, day_type)
        for period in schedule:
            used.add(period)
            if period not in season.rates:
                found.append(
                    Finding(
                        (*where, period),
                        f"unknown period `{period}`: the season has no rate for it",
                        f"use one of {', '.join(season.rates)}, or add `{period}:` to `rates`",
                        key=True,
                    )
                )
        found += _check_hours(where, schedule)
    for period in season.rates:
        if period not in used:
            found.append(
                Finding(
                    (*path, "rates", period),
                    f"period `{period}` has a rate but no hours",
                    "give it hours under weekdays or weekends, or remove its rate",
                    key=True,
                )
            )
    return found


def _check_hours(path: Path, schedule: dict[str, list[TimeWindow]]) -> list[Finding]:
    found: list[Finding] = []
    taken: dict[int, str] = {}  # hour -> "period 16:00-21:00"
    for period, windows in schedule.items():
        for index, window in enumerate(windows):
            at = (*path, period, index)
            if window.start.minute or (window.end is not None and window.end.minute):
                found.append(Finding(at, f"{window}: hours start and end on the hour", "e.g. 16:00-21:00"))
                continue
            for hour in _hours(window):
                if hour in taken:
                    found.append(
                        Finding(
                            at,
                            f"overlapping hours: {period} {window} and {taken[hour]}",
                            "give each hour of the day one period",
                        )
                    )
                    break
            for hour in _hours(window):
                taken.setdefault(hour, f"{period} {window}")
    missing = [hour for hour in range(24) if hour not in taken]
    if missing and not found:
        found.append(
            Finding(
                path,
                f"missing hours: {_spans(missing)} have no period",
                "the periods' hours together cover 00:00-24:00",
                key=True,
            )
        )
    return found


def _hours(window: TimeWindow) -> range:
    return range(window.start.hour, 24 if window.end is None else window.end.hour)


def hour_periods(schedule: dict[str, list[TimeWindow]]) -> list[str]:
    """The period of each hour 0-23 (the schedule is checked: each hour has exactly one)."""
    periods = [""] * 24
    for period, windows in schedule.items():
        for window in windows:
            for hour in _hours(window):
                periods[hour] = period
    return periods


def _spans(hours: list[int]) -> str:
    spans: list[str] = []
    start = hours[0]
    for previous, hour in zip(hours, [*hours[1:], None], strict=True):
        if hour != previous + 1:
            spans.append(f"{start:02d}:00-{previous + 1:02d}:00")
            if hour is not None:
                start = hour
    return ", ".join(spans)
