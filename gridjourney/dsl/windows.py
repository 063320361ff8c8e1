"""Sending windows: local wall-clock hours written "HH:MM-HH:MM", as journeys and the policy write them.

Pure data and parsing: journey definitions (dsl/schema.py) use it, and the workflow imports those,
so nothing here may do I/O or import the event field checks.
"""

from __future__ import annotations

import itertools
import re
from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

WINDOW_PATTERN = r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$"
_WINDOW = re.compile(WINDOW_PATTERN)

# How files write them: one window or a list of windows.
WINDOWS_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": WINDOW_PATTERN},
        {"type": "array", "items": {"type": "string", "pattern": WINDOW_PATTERN}, "minItems": 1},
    ],
    "examples": ["09:00-18:00", ["07:00-12:00", "13:00-20:00"]],
}


class TimeWindow(BaseModel):
    """Local wall-clock hours, start included, end excluded; `24:00` ends at midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time | None = Field(description="None: midnight at the end of the day.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # Each window of a list is parsed here, so that an error names the window's own position.
        if isinstance(value, str):
            window = cls.parse(value)
            return {"start": window.start, "end": window.end}
        return value

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        match = _WINDOW.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a window; write HH:MM-HH:MM, e.g. 08:00-21:00")
        if match[3] == "24" and match[4] != "00":
            raise ValueError(f"{text!r}: the latest end is 24:00")
        start = time(int(match[1]), int(match[2]))
        end = None if match[3] == "24" else time(int(match[3]), int(match[4]))
        if end is not None and end <= start:
            raise ValueError(f"{text!r} is empty or runs backwards; a window ends after it starts")
        return cls(start=start, end=end)

    @model_serializer
    def _as_text(self) -> str:
        # written back as read: "09:00-18:00"
        return str(self)

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def windows_from_text(value: Any) -> Any:
    """`"09:00-18:00"` is a list of one window."""
    return [value] if isinstance(value, str) else value


def check_no_overlap(windows: list[TimeWindow]) -> list[TimeWindow]:
    """The windows in order of their start; ValueError when two share a minute."""
    ordered = sorted(windows, key=lambda w: w.start)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.end is None or later.start < earlier.end:
            raise ValueError(f"windows {earlier} and {later} overlap")
    return ordered
