"""tariffs.yaml → TariffFile, with every error located as `file:line:column`, as journeys and the
policy are.

The file goes through the journeys' bounded reader (gridjourney/dsl/loader.py), then the pydantic
models (tariffs/model.py), then the checks the models cannot make (tariffs/checks.py). Each problem
is reported at the value it is about, or at the key when the key itself is wrong.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from gridjourney.dsl.loader import Positions, compose_with_positions
from gridjourney.file_errors import FileError, FileErrors, located_in
from gridjourney.tariffs.checks import Finding, check_file
from gridjourney.tariffs.model import TariffFile

GENERIC_HINT = "see the tariffs section of the README and the shipped tariffs.yaml"


class TariffError(FileError):
    """A problem in a tariffs file, at its line and column."""


class TariffErrors(FileErrors[TariffError]):
    """A tariffs file that cannot be used; `errors` holds every problem found, in file order."""


def load_tariffs_text(text: str, filename: str) -> TariffFile:
    data, positions, problems = compose_with_positions(text, filename)
    if problems:
        raise TariffErrors(TariffError(p.file, p.line, p.column, p.message, _hint(p.hint)) for p in problems)
    if not isinstance(data, dict):
        line, column = positions.at(())
        raise TariffErrors(
            [TariffError(filename, line, column, "a tariffs file must be a mapping", GENERIC_HINT)]
        )
    try:
        tariffs = TariffFile.model_validate(data)
    except ValidationError as error:
        raise TariffErrors(_located(error, data, positions)) from None
    findings = check_file(tariffs)
    if findings:
        raise TariffErrors(_at(positions, f) for f in findings)
    return tariffs


def load_tariffs(path: str | FsPath) -> TariffFile:
    """Raises TariffErrors (also for a file that cannot be read, at 1:1)."""
    path = FsPath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise TariffErrors([TariffError(str(path), 1, 1, f"cannot read the tariffs: {reason}")]) from None
    return load_tariffs_text(text, str(path))


def _hint(hint: str | None) -> str:
    # The shared reader's hints speak of journeys where they are about what a file should contain.
    return hint if hint and "journey" not in hint else GENERIC_HINT


def _at(positions: Positions, finding: Finding) -> TariffError:
    line, column = positions.key_at(finding.path) if finding.key else positions.at(finding.path)
    return TariffError(positions.file, line, column, finding.message, finding.hint)


def _located(error: ValidationError, data: Any, positions: Positions) -> list[TariffError]:
    found: list[TariffError] = []
    for item in error.errors(include_url=False):
        path, rest = located_in(item["loc"], data)
        where = ".".join(str(p) for p in path) or "the file"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            name = str(rest[-1] if rest else path[-1])
            found.append(_at(positions, Finding(path, f"`{name}` is required here", f"add `{name}:`")))
        elif item["type"] == "extra_forbidden":
            found.append(_at(positions, Finding(path, f"unknown key `{path[-1]}`", GENERIC_HINT, key=True)))
        elif rest[:1] == ("[key]",):
            hint = "use lowercase letters, digits and _, starting with a letter"
            found.append(_at(positions, Finding(path, f"`{path[-1]}` is not a valid name", hint, key=True)))
        else:
            found.append(_at(positions, Finding(path, f"{where}: {message}", GENERIC_HINT)))
    return found
