"""Journey YAML → JourneyDefinition, with every error located as `file:line:column`.

The YAML is composed into a node tree (so every value keeps its line and column), turned into plain
data while recording the position of each value and key under its path (`("steps", 2, "send",
"template")`), then validated by the pydantic schema. Validation errors are mapped back to those
positions (dsl/validation_errors.py); a missing field is reported at the mapping that lacks it.
`Positions` is kept so the compiler can locate its own findings the same way. Lines and columns are
1-based.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from gridjourney.content.template_source import NotUtf8, read_text
from gridjourney.dsl import suggestions
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.validation_errors import GENERIC_HINT, validation_errors
from gridjourney.dsl.yaml_bounds import size_problem, structure_problem
from gridjourney.events.fields import INT64_MAX, float_problem, json_number_problem
from gridjourney.file_errors import FileError, FileErrors

Path = tuple[str | int, ...]


class JourneyError(FileError):
    """A problem in a journey file, at its line and column."""


class JourneyErrors(FileErrors[JourneyError]):
    """A journey file that cannot be used; `errors` holds every problem found, in file order."""


@dataclass
class Positions:
    """Where each value (and each mapping key) of a journey file is, by its path in the data."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # The file's lines, to point inside an expression at the name that is wrong (dsl/pointing.py).
    lines: list[str] = field(default_factory=list)

    def at(self, path: Path) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.values:
                return self.values[path[:end]]
        return (1, 1)

    def key_at(self, path: Path) -> tuple[int, int]:
        return self.keys.get(path) or self.at(path)

    def error(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> JourneyError:
        line, column = self.key_at(path) if key else self.at(path)
        return JourneyError(self.file, line, column, message, hint or GENERIC_HINT)


@dataclass(frozen=True)
class LoadedJourney:
    definition: JourneyDefinition
    positions: Positions


def load_journey_text(text: str, filename: str) -> JourneyDefinition:
    return load_journey_with_positions(text, filename).definition


def load_journey_file(path: str | FsPath) -> JourneyDefinition:
    return load_journey_text(journey_text(FsPath(path)), str(path))


def journey_text(path: FsPath) -> str:
    """A journey file's text (a byte-order mark dropped); raises JourneyErrors when it is not UTF-8
    (at the first bad byte) or cannot be read."""
    try:
        return read_text(path)
    except NotUtf8 as error:
        found = JourneyError(str(path), error.line, error.column, error.reason, error.hint)
        raise JourneyErrors([found]) from None
    except OSError as error:
        reason = f"cannot read the file: {error.strerror or error}"
        unreadable = JourneyError(str(path), 1, 1, reason, "check the path and its permissions")
        raise JourneyErrors([unreadable]) from None


def load_journey_with_positions(text: str, filename: str) -> LoadedJourney:
    """Parse and validate; raises JourneyErrors listing every problem."""
    positions = Positions(filename, lines=text.splitlines())
    data, errors = _compose(text, positions)
    if errors:
        raise JourneyErrors(errors)
    if not isinstance(data, dict):
        raise JourneyErrors(
            [positions.error((), "a journey file must be a mapping", "start with `id: my_journey`")]
        )
    _alias_single_trigger(data, positions)
    if (unstorable := _unstorable_number(data, positions)) is not None:
        raise JourneyErrors([unstorable])
    try:
        definition = JourneyDefinition.model_validate(data)
    except ValidationError as error:
        raise JourneyErrors(validation_errors(error, data, positions)) from None
    return LoadedJourney(definition, positions)


def _unstorable_number(data: Any, positions: Positions) -> JourneyError | None:
    """The first number the version's jsonb cannot give back as written (1.0e+19 comes back as a
    20-digit integer, which the customers projection then refuses), at its line and column."""
    pending: list[tuple[Any, Path]] = [(data, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict):
            pending.extend((child, (*path, key)) for key, child in value.items())
        elif isinstance(value, list):
            pending.extend((child, (*path, index)) for index, child in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            why = "the value must be a finite number (not .inf, .nan, or one past ±1.8e308)"
            return positions.error(path, why)
        elif isinstance(value, float) and (problem := float_problem(value)) is not None:
            return positions.error(path, f"the number {problem}", "write a number within ±9.2e18")
        elif value == 0.0 and isinstance(value, float) and (problem := _underflow(positions, path)):
            return positions.error(path, f"the number {problem}", "write 0, or a number nearer 1")
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX <= value <= INT64_MAX:
            return positions.error(path, "the number is out of range (64-bit integers only)")
    return None


_NUMBER_TEXT = re.compile(r"[-+]?[0-9_.]+(?:[eE][-+]?[0-9]+)?")


def _underflow(positions: Positions, path: Path) -> str | None:
    """Why a YAML float read as 0.0 is not the number written (1.0e-400 underflows to 0.0, and the
    version would quietly keep 0), or None: read back from the file's text at the value's position."""
    line, column = positions.at(path)
    text = positions.lines[line - 1] if line <= len(positions.lines) else ""
    written = _NUMBER_TEXT.match(text, column - 1)
    return None if written is None else json_number_problem(written.group().replace("_", ""), 0.0)


# --- YAML → data with positions --------------------------------------------------------------------
def compose_with_positions(text: str, filename: str) -> tuple[Any, Positions, list[JourneyError]]:
    """Bounded YAML → plain data, where each value and key is, and the problems found. Also the
    compliance policy's reader (gridjourney/policy/loader.py)."""
    positions = Positions(filename)
    data, errors = _compose(text, positions)
    return data, positions, errors


SYNTAX_HINT = "check the indentation, and quote values that contain ': ' or start with a special character"


def _compose(text: str, positions: Positions) -> tuple[Any, list[JourneyError]]:
    try:
        if problem := size_problem(text) or structure_problem(text):
            found = JourneyError(positions.file, problem.line, problem.column, problem.message, problem.hint)
            return None, [found]
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            errors: list[JourneyError] = []
            data = None if node is None else _to_data(node, (), loader, positions, errors)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {error.problem or error.context}"
        hint = f"{error.context}; " if error.context and error.problem else ""
        return None, [JourneyError(positions.file, line, column, message, hint + SYNTAX_HINT)]
    except yaml.reader.ReaderError as error:  # a character YAML does not allow (NUL, other controls)
        line, column = _line_column(text, error.position)
        message = f"YAML syntax error: character {error.character!r} is not allowed"
        return None, [JourneyError(positions.file, line, column, message, "remove it")]
    if node is None:
        return None, [positions.error((), "the file is empty", "start with `id: my_journey`")]
    return data, errors


def _line_column(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _to_data(
    node: yaml.Node, path: Path, loader: yaml.SafeLoader, positions: Positions, errors: list[JourneyError]
) -> Any:
    positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve `<<: *anchor` merges
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                errors.append(
                    JourneyError(positions.file, *key_pos, "a key must be a plain name", GENERIC_HINT)
                )
                continue
            key = str(key_node.value)
            if key in result:
                errors.append(
                    JourneyError(positions.file, *key_pos, f"duplicate key `{key}`", "keep only one of them")
                )
                continue
            positions.keys[(*path, key)] = key_pos
            result[key] = _to_data(value_node, (*path, key), loader, positions, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i), loader, positions, errors) for i, item in enumerate(node.value)]
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.constructor.ConstructorError) as error:
        # e.g. an integer of thousands of digits, or a date like 2025-02-30
        line, column = positions.values[path]
        reason = error.problem if isinstance(error, yaml.MarkedYAMLError) else str(error)
        errors.append(JourneyError(positions.file, line, column, f"unusable value: {reason}", GENERIC_HINT))
        return None
    # YAML 1.1 reads an unquoted 9:30 as the base-60 integer 570; a journey means a time of day.
    if isinstance(value, int) and ":" in str(node.value):
        return str(node.value)
    return value


def _alias_single_trigger(data: dict[str, Any], positions: Positions) -> None:
    """`trigger: {event: ...}` becomes `trigger[0]` in the model, and `trigger: bill.issued` (or a
    list item that is a type) `trigger[i].event`: record their positions under the model's paths too."""
    trigger = data.get("trigger")
    if isinstance(trigger, str):
        positions.values.setdefault(("trigger", 0, "event"), positions.at(("trigger",)))
    if isinstance(trigger, list):
        for i, item in enumerate(trigger):
            if isinstance(item, str):
                positions.values.setdefault(("trigger", i, "event"), positions.at(("trigger", i)))
    if not isinstance(trigger, dict):
        return
    for table in (positions.values, positions.keys):
        for path, pos in list(table.items()):
            if path[:1] == ("trigger",):
                table.setdefault(("trigger", 0, *path[1:]), pos)


def did_you_mean(name: str, candidates: Iterable[str], what: str = "one of") -> str:
    """A hint naming the closest candidate (for the compiler's unknown ids and event types)."""
    return suggestions.did_you_mean(name, candidates, what)


def iter_yaml_files(paths: Iterable[str | FsPath]) -> Iterator[FsPath]:
    """The journey files named: files as given, directories' *.yaml / *.yml (sorted)."""
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path
