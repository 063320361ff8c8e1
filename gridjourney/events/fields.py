"""Field types of events: every value an event may carry is one the tables can hold and the code can use.

Lengths match the columns behind them (gridjourney/db/tables.py); strings never carry NUL or lone
surrogates (Postgres and UTF-8 refuse both); numbers are finite and bounded; times are RFC 3339
strings within a sane range; free-form JSON (attributes) is bounded in depth and size. Each check
raises ValueError, which pydantic reports at the field's location.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints, ValidationInfo

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Postgres keeps a jsonb number as `numeric` and writes it back in plain decimal: a float of 2**63 or
# more (1e19) comes back as an integer beyond 64 bits, which no reader of the log takes. Below it, a
# float reads back as the same number (1e17 as 100000000000000000).
FLOAT_LIMIT = 2.0**63
# Beyond any plausible event (and far from the limits of datetime arithmetic and time zone shifts).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

JSON_MAX_DEPTH = 8
JSON_MAX_NODES = 1_000
# An event's payload before its type's model bounds each field (events/types.py): room for the largest
# payload a type admits, an outage naming 10,000 premises, 1,000 transformers and 1,000 feeders.
PAYLOAD_MAX_NODES = 12_100
JSON_MAX_KEY_LENGTH = 200
JSON_MAX_STRING_LENGTH = 10_000

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
# An RFC 3339 date-time (seconds may be left out, as ISO 8601 allows). The zone is optional here so
# that a missing one gets its own, clearer error.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?$")


def float_problem(value: float) -> str | None:
    """Why a JSON float cannot be stored and read back as the same number, or None when it can."""
    if not math.isfinite(value):
        return "is not a finite number"
    if not -FLOAT_LIMIT < value < FLOAT_LIMIT:
        return "is out of range (numbers must lie strictly between -2^63 and 2^63, about ±9.2e18)"
    return None


def json_number_problem(text: str, value: float) -> str | None:
    """Why the JSON number written `text`, parsed as `value`, cannot be stored as it was sent, or None:
    float_problem, and a number too small for a float (1e-400), which would be kept as 0."""
    if value == 0.0:
        significand = text.partition("e")[0].partition("E")[0]
        if any(digit in significand for digit in "123456789"):
            return f"{text} is too close to zero to be kept (it would read back as 0)"
        return None
    problem = float_problem(value)
    return None if problem is None else f"{text} {problem}"


def unstorable_number(value: Any) -> str | None:
    """The first number in a JSON-like tree that jsonb cannot give back as it is (naming its path, as
    `steps[3].update.value is out of range ...`), or None. Unlike json_value_problem, no bound on depth,
    size or text: for documents bounded elsewhere (a journey definition) that are stored as jsonb."""
    stack: list[tuple[Any, _Where]] = [(value, None)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, (where, str(key))) for key, child in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((child, (where, index)) for index, child in enumerate(item))
        elif isinstance(item, float):
            if (problem := float_problem(item)) is not None:
                return f"{_path(where) or 'the value'} {problem}"
        elif isinstance(item, int) and not isinstance(item, bool) and not -INT64_MAX <= item <= INT64_MAX:
            return f"{_path(where) or 'the value'} is out of range (64-bit integers only)"
    return None


def clean_text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    if value.isascii():  # ASCII always encodes: no copy made to find out
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


@dataclass(frozen=True)
class Admission:
    """What the API door accepts beyond the schema (from Settings), passed as pydantic validation
    context under ADMISSION. Folds validate without it: a stored event stays readable when the
    settings change."""

    now: datetime
    max_future: timedelta
    max_past: timedelta
    locales: frozenset[str]


ADMISSION = "admission"


def admission(info: ValidationInfo) -> Admission | None:
    found = (info.context or {}).get(ADMISSION) if isinstance(info.context, dict) else None
    return found if isinstance(found, Admission) else None


def _configured_locale(value: str, info: ValidationInfo) -> str:
    door = admission(info)
    if door is None or value in door.locales:
        return value
    # Templates are per language: a CRM's es-MX or en-US is stored as the language it is written in.
    language = value.split("-", 1)[0]
    if language in door.locales:
        return language
    raise ValueError(f"not a configured locale; use one of: {', '.join(sorted(door.locales))}")


def _clean_text(value: str) -> str:
    problem = clean_text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _rfc3339(value: Any) -> Any:
    # datetime objects come from Python callers and database rows; JSON must send the string form.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2025-07-14T08:00:00Z")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number; use E.164, e.g. +15035550142") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number; use E.164, e.g. +15035550142")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    try:
        # No DNS: validation must not depend on the network, nor leak addresses to resolvers.
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def iana_time_zone(value: str) -> str:
    """`value` if it names an IANA time zone, else ValueError."""
    # Membership first: an arbitrary string never becomes a file name for zoneinfo to look up.
    if value not in _zones():
        raise ValueError("not an IANA time zone, e.g. America/Los_Angeles")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone, e.g. America/Los_Angeles") from exc
    return value


def json_value_problem(value: Any, *, json_only: bool = True, max_nodes: int = JSON_MAX_NODES) -> str | None:
    """Why a JSON value cannot be kept (naming the path inside it), or None. Iterative: no recursion.
    Without `json_only`, other Python values (datetimes, ...) pass: a payload model converts them."""
    if type(value) is dict and len(value) < max_nodes and _flat_and_fit(value):
        return None  # the common payload, settled without the walk (which also names what is wrong)
    nodes = 0
    # Each entry: the value, its level, and where it is as (parent's where, key or index): the path's
    # text is only written out for a value found wanting.
    stack: list[tuple[Any, int, _Where]] = [(value, 0, None)]
    while stack:
        item, level, where = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return f"more than {max_nodes} values"
        if level > JSON_MAX_DEPTH:
            return f"nested deeper than {JSON_MAX_DEPTH} levels at {_path(where) or 'the top'}"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or len(key) > JSON_MAX_KEY_LENGTH:
                    at = _path(where) or "the top"
                    return f"a key longer than {JSON_MAX_KEY_LENGTH} characters at {at}"
                if (problem := clean_text_problem(key)) is not None:
                    return f"key at {_path(where) or 'the top'} {problem}"
                stack.append((child, level + 1, (where, key)))
        elif isinstance(item, list):
            stack.extend((child, level + 1, (where, index)) for index, child in enumerate(item))
        elif isinstance(item, str):
            if len(item) > JSON_MAX_STRING_LENGTH:
                return f"a string longer than {JSON_MAX_STRING_LENGTH} characters at {_path(where)}"
            if (problem := clean_text_problem(item)) is not None:
                return f"{_path(where)} {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > INT64_MAX:
                return f"{_path(where)} is out of range (64-bit integers only)"
        elif isinstance(item, float):
            if (problem := float_problem(item)) is not None:
                return f"{_path(where)} {problem}"
        elif json_only:
            return f"{_path(where)} is not a JSON value"
    return None


def _flat_and_fit(value: dict[Any, Any]) -> bool:
    """Whether `value` is one level of ASCII keys and plain values that json_value_problem would pass:
    False sends it through the walk, which finds what (if anything) is wrong."""
    # Checks written out (no helper): this runs for every payload a door takes in; a call per value costs.
    for key, item in value.items():
        if type(key) is not str or len(key) > JSON_MAX_KEY_LENGTH or not key.isascii() or "\x00" in key:
            return False
        kind = type(item)
        if kind is str:
            if len(item) > JSON_MAX_STRING_LENGTH or not item.isascii() or "\x00" in item:
                return False
        elif kind is float:
            if not -FLOAT_LIMIT < item < FLOAT_LIMIT:  # NaN fails too
                return False
        elif kind is int:
            if not -INT64_MAX <= item <= INT64_MAX:
                return False
        elif item is not None and kind is not bool:
            return False
    return True


_Where = tuple["_Where", str | int] | None


def _path(where: _Where) -> str:
    """`a.b[2].c` of a value's (parent, key) chain."""
    parts: list[str | int] = []
    while where is not None:
        where, part = where
        parts.append(part)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_value_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _bounded_payload(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_value_problem(value, json_only=False, max_nodes=PAYLOAD_MAX_NODES)
    if problem is not None:
        raise ValueError(problem)
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return StringConstraints(min_length=min_length, max_length=max_length)


NoNul = AfterValidator(_clean_text)

# Identifiers and short labels (String(100) columns); free text (Text columns, kept readable).
Label = Annotated[str, _text(100, 1), NoNul]
Text = Annotated[str, _text(2_000), NoNul]
LongLabel = Annotated[str, _text(300, 1), NoNul]  # instance ids and idempotency keys: String(300)
Name = Annotated[str, _text(200), NoNul]
Phone = Annotated[
    str,
    _text(32),
    NoNul,
    AfterValidator(_e164),
    Field(description="E.164, e.g. +15035550142 (other formats with a + are normalised to it)"),
]
Email = Annotated[
    str, _text(320), NoNul, AfterValidator(_email), Field(json_schema_extra={"format": "email"})
]
TimeZone = Annotated[
    str,
    _text(64, 1),
    NoNul,
    AfterValidator(iana_time_zone),
    Field(description="IANA zone, e.g. America/Chicago"),
]
Locale = Annotated[
    str,
    StringConstraints(min_length=2, max_length=10, pattern=LOCALE_PATTERN),
    AfterValidator(_configured_locale),
    Field(
        description="Language for messages, one of the configured locales (GRIDJOURNEY_LOCALES); a regional "
        "tag of one (es-MX) is stored as its language (es)."
    ),
]
CustomerId = Annotated[str, StringConstraints(pattern=CUSTOMER_ID_PATTERN)]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_in_range),
    Field(description="RFC 3339 with a zone, e.g. 2025-07-14T08:00:00Z"),
]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_json),
    Field(
        description=f"Free-form JSON: at most {JSON_MAX_DEPTH} levels and {JSON_MAX_NODES} values, "
        f"strings up to {JSON_MAX_STRING_LENGTH} characters."
    ),
]
# An event's payload before its type's model validates it (events/types.py): bounded the same way.
PayloadObject = Annotated[dict[str, Any], AfterValidator(_bounded_payload)]
Amount = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
SignedQuantity = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
