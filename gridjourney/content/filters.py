"""Jinja filters a utility's messages need: money and times in the customer's own time zone.

Filters that depend on language read the locale from the template's path (`sms/es/...`), so an
English fallback template formats in English even for a Spanish-speaking customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context

_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
_SYMBOLS = {"USD": "$", "CAD": "$", "MXN": "$", "EUR": "€", "GBP": "£"}


def money(value: Any, currency: str = "USD") -> str:
    """182.4 → `$182.40`; thousands separated (`$1,204.00`); unknown currencies as `182.40 XYZ`."""
    amount = float(value)
    text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


def _locale(context: Context) -> str:
    return _language_of(context.name or "")


@lru_cache(maxsize=256)
def _language_of(template_name: str) -> str:
    # Once per template, not once per filter call: a cohort renders one template thousands of times.
    parts = template_name.replace("\\", "/").split("/")
    language = parts[-2].split("-")[0] if len(parts) >= 2 else "en"
    return language if language in _MONTHS else "en"


def _zone_name(context: Context) -> Any:
    customer = context.get("customer")
    return customer.get("time_zone", "UTC") if isinstance(customer, dict) else "UTC"


def _local(value: Any, zone_name: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"{value!r} is not a timestamp")
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # a bad zone in the profile must not block a safety message
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone)


def _time(moment: datetime, locale: str) -> str:
    hour = moment.hour % 12 or 12
    suffix = (
        ("AM" if moment.hour < 12 else "PM") if locale == "en" else ("a. m." if moment.hour < 12 else "p. m.")
    )
    return f"{hour}:{moment.minute:02d} {suffix} {moment.tzname()}"


def _date(moment: datetime, locale: str) -> str:
    weekday = _WEEKDAYS[locale][moment.weekday()]
    month = _MONTHS[locale][moment.month - 1]
    if locale == "es":
        return f"{weekday} {moment.day} de {month}"
    return f"{weekday}, {month} {moment.day}"


def _day(moment: datetime, locale: str) -> str:
    month = _MONTHS[locale][moment.month - 1]
    return f"{moment.day} de {month}" if locale == "es" else f"{month} {moment.day}"


def _date_time(moment: datetime, locale: str) -> str:
    joiner = " at " if locale == "en" else (" a la " if moment.hour % 12 == 1 else " a las ")  # a la 1:00
    return _date(moment, locale) + joiner + _time(moment, locale)


Form = Callable[[datetime, str], str]


def _formatted(context: Context, value: Any, form: Form) -> str:
    zone_name = _zone_name(context)
    if type(value) is str and type(zone_name) is str:
        return _formatted_text(form, value, zone_name, _locale(context))
    return form(_local(value, zone_name), _locale(context))


@lru_cache(maxsize=1024)
def _formatted_text(form: Form, value: str, zone_name: str, locale: str) -> str:
    # A timestamp's text, zone and language give one output: a cohort prints the same event times
    # for every customer of a zone, so each is parsed, converted and formatted once.
    return form(_local(value, zone_name), locale)


@pass_context
def local_time(context: Context, value: Any) -> str:
    """`3:00 PM PDT` (en) / `3:00 p. m. PDT` (es), in the customer's zone."""
    return _formatted(context, value, _time)


@pass_context
def local_date(context: Context, value: Any) -> str:
    """`Tuesday, July 14` (en) / `martes 14 de julio` (es), in the customer's zone."""
    return _formatted(context, value, _date)


@pass_context
def local_day(context: Context, value: Any) -> str:
    """`July 14` (en) / `14 de julio` (es): a date without the weekday (GSM-7 safe in Spanish SMS)."""
    return _formatted(context, value, _day)


@pass_context
def local_datetime(context: Context, value: Any) -> str:
    """`Tuesday, July 14 at 3:00 PM PDT` (en) / `martes 14 de julio a las 3:00 p. m. PDT` (es)."""
    return _formatted(context, value, _date_time)


FILTERS = {
    "money": money,
    "local_time": local_time,
    "local_date": local_date,
    "local_day": local_day,
    "local_datetime": local_datetime,
}
