"""Errors in a file a person writes (journeys, the policy, the tariffs), reported as
`file:line:column: message (hint: ...)`, every problem found at once, in file order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar


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
