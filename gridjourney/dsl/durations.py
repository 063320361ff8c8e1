"""Durations as marketers write them: 90s, 30m, 12h, 3d, 2w (and combinations such as 1d12h)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
DURATION_PATTERN = r"^(\d+[smhdw])+$"


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
            seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value.strip()))
            return timedelta(seconds=seconds)
    except OverflowError:  # beyond timedelta's range (about 2.7 million years): a ValueError like others
        raise ValueError(f"{value!r} is too long a duration") from None
    raise ValueError(f"{value!r} is not a duration; write a number and a unit, e.g. 30m, 12h, 3d or 2w")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30m", "3d", "1d12h"]}),
]
