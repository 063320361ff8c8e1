"""What a Green Button file refuses (GreenButtonError: which element or CSV line, and why) and what
it leaves out while importing the rest (SkippedSeries)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SkippedSeries:
    """A part of the file left out, and why (the rest of the file is imported)."""

    element: str
    reason: str
    readings: int = 0


class GreenButtonError(ValueError):
    """The file is refused as a whole; nothing of it is stored."""

    def __init__(self, element: str, reason: str, line: int | None = None) -> None:
        where = f"{element} (line {line})" if line is not None else element
        super().__init__(f"{where}: {reason}")
        self.element = element
        self.reason = reason
        self.line = line
