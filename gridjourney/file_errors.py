"""Errors in a file a person writes (journeys, the policy, the tariffs), reported as
`file:line:column: message (hint: ...)`, every problem found at once, in file order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar


@dataclass(frozen=True)
class FileError:
    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{hint}"


Problem = TypeVar("Problem", bound=FileError)


class FileErrors(Exception, Generic[Problem]):
    """A file that cannot be used; `errors` holds every problem found, each once, in file order."""

    def __init__(self, errors: Iterable[Problem]) -> None:
        self.errors = sorted(set(errors), key=lambda e: (e.file, e.line, e.column, e.message))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def located_in(loc: tuple[str | int, ...], data: Any) -> tuple[tuple[str | int, ...], tuple[str | int, ...]]:
    """The longest prefix of a pydantic error's location that exists in the file's data (where the
    error is shown), and the rest (what is missing or not a key there)."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if not (in_list or (isinstance(current, dict) and part in current)):
            return tuple(path), tuple(loc[index:])
        current = current[part]
        path.append(part)
    return tuple(path), ()
