"""Jinja filters a utility's messages need: money and times in the customer's own time zone.

Filters that depend on language read the locale from the template's path (`sms/es/...`), so an
English fallback template formats in English even for a Spanish-speaking customer.
"""

from __future__ import annotations

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


def _local(context: Context, value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"{value!r} is not a timestamp")
    customer = context.get("customer")
    zone_name = customer.get("time_zone", "UTC") if isinstance(customer, dict) else "UTC"
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


@pass_context
def local_time(context: Context, value: Any) -> str:
    """`3:00 PM PDT` (en) / `3:00 p. m. PDT` (es), in the customer's zone."""
    return _time(_local(context, value), _locale(context))


@pass_context
def local_date(context: Context, value: Any) -> str:
    """`Tuesday, July 14` (en) / `martes 14 de julio` (es), in the customer's zone."""
    return _date(_local(context, value), _locale(context))


@pass_context
def local_day(context: Context, value: Any) -> str:
    """`July 14` (en) / `14 de julio` (es): a date without the weekday (GSM-7 safe in Spanish SMS)."""
    moment, locale = _local(context, value), _locale(context)
    month = _MONTHS[locale][moment.month - 1]
    return f"{moment.day} de {month}" if locale == "es" else f"{month} {moment.day}"


@pass_context
def local_datetime(context: Context, value: Any) -> str:
    """`Tuesday, July 14 at 3:00 PM PDT` (en) / `martes 14 de julio a las 3:00 p. m. PDT` (es)."""
    moment, locale = _local(context, value), _locale(context)
    joiner = " at " if locale == "en" else (" a la " if moment.hour % 12 == 1 else " a las ")  # a la 1:00
    return _date(moment, locale) + joiner + _time(moment, locale)


FILTERS = {
    "money": money,
    "local_time": local_time,
    "local_date": local_date,
    "local_day": local_day,
    "local_datetime": local_datetime,
}
