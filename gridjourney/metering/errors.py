"""The error a refused Green Button file raises: which element (or CSV line) and why."""

from __future__ import annotations


class GreenButtonError(ValueError):
    """The file is refused as a whole; nothing of it is stored."""

    def __init__(self, element: str, reason: str, line: int | None = None) -> None:
        where = f"{element} (line {line})" if line is not None else element
        super().__init__(f"{where}: {reason}")
        self.element = element
        self.reason = reason
        self.line = line
