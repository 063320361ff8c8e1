"""Journey YAML → JourneyDefinition, with every error located as `file:line:column`.

The YAML is composed into a node tree (so every value keeps its line and column), turned into plain
data while recording the position of each value and key under its path (`("steps", 2, "send",
"template")`), then validated by the pydantic schema. Validation errors are mapped back to those
positions; a missing field is reported at the mapping that lacks it. `Positions` is kept so the
compiler can locate its own findings the same way. Lines and columns are 1-based.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from gridjourney.content.template_source import NotUtf8, read_text
from gridjourney.dsl import expressions, schema
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.yaml_bounds import size_problem, structure_problem
from gridjourney.file_errors import FileError, FileErrors

Path = tuple[str | int, ...]
GENERIC_HINT = "see `gridjourney journeys schema` for the journey language"


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
    try:
        definition = JourneyDefinition.model_validate(data)
    except ValidationError as error:
        raise JourneyErrors(_validation_errors(error, data, positions)) from None
    return LoadedJourney(definition, positions)


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


# --- pydantic errors → positioned errors -----------------------------------------------------------
def _validation_errors(error: ValidationError, data: Any, positions: Positions) -> list[JourneyError]:
    found = []
    for item in error.errors(include_url=False):
        if item["loc"][-1:] == ("str",) and isinstance(item["input"], dict):
            continue  # a mapping where a union also takes a string (exit_on): the mapping's errors say it
        path, rest = _data_path(item["loc"], data)
        found.append(_describe(item, path, rest, positions, data))
    return list(dict.fromkeys(found))


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[Path, Path]:
    """The part of pydantic's location that exists in the data, and the rest. Union tags
    (`send` in `steps.0.send.send`) and validator-made keys are skipped along the way."""
    path: list[str | int] = []
    current = data
    remaining = list(loc)
    while remaining:
        part = remaining[0]
        if isinstance(current, dict) and len(remaining) > 1 and part == remaining[1] and part in current:
            remaining.pop(0)  # a step's union tag is its kind's key: `steps.1.split.split.0`
            continue
        if _has(current, part):
            current = current[part]
        elif isinstance(current, dict) and len(remaining) > 1 and remaining[1] in current:
            remaining.pop(0)  # a union tag, not a key
            continue
        elif isinstance(current, dict) and isinstance(part, int) and part == 0 and path == ["trigger"]:
            remaining.pop(0)  # `trigger` given as one mapping
            continue
        else:
            break
        path.append(part)
        remaining.pop(0)
    return tuple(path), tuple(remaining)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _describe(item: Any, path: Path, rest: Path, positions: Positions, data: Any) -> JourneyError:
    kind: str = item["type"]
    where = ".".join(str(p) for p in path) or "the journey"
    message = str(item["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        name = rest[-1] if rest else path[-1]
        return positions.error(path, f"`{name}` is required here", f"add `{name}:` to this mapping")
    if kind == "extra_forbidden":
        name = str(path[-1])
        return positions.error(
            path, f"unknown key `{name}`", did_you_mean(name, _fields_at(path), "allowed keys"), key=True
        )
    if kind == "step_kind":
        return _step_kind_error(path, positions, data)
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return positions.error(path, f"{where}: {message}", f"use one of {expected}")
    if kind == "string_pattern_mismatch":
        hint = "use lowercase letters, digits and _, starting with a letter (e.g. high_bill_alert)"
        return positions.error(path, f"{where}: {item['input']!r} is not a valid name", hint)
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return positions.error(path, f"{where}: {message}", "check the indentation and the `-` of list items")
    if kind == "float_parsing" and isinstance(item["input"], str) and item["input"].strip().endswith("%"):
        return positions.error(path, f"{where}: {item['input']!r} is not a number", _percent_hint(path, item))
    for fragment, (place, hint) in _PLACED.items():
        if fragment in message and isinstance(data, dict) and place[0] in data:
            return positions.error(place, message, hint, key=True)
    return positions.error(path, f"{where}: {message}", _hint_for(path, kind, message))


COHORT_EXAMPLE = "`cohort: {key: event.dr_event_id, audience: {program: event.program}}`"
# Whole-journey validator errors, placed at the key they are about (when the file has it).
_PLACED: dict[str, tuple[Path, str]] = {
    "mode cohort needs a `cohort` block": (
        ("mode",),
        f"say which event makes a run and who hears it, e.g. {COHORT_EXAMPLE}",
    ),
    "a `cohort` block needs `mode: cohort`": (
        ("cohort",),
        "add `mode: cohort`, or remove the block for a per-customer journey",
    ),
}

_VALIDATOR_HINTS = {
    "`window` is required": "e.g. `entry: {reentry: once_per_window, window: 30d}`",
    "exactly one of `duration`": "e.g. `wait: 3d`, `wait: {until_local_time: '09:00'}` or "
    "`wait: {until: event.start, before: 1h}`",
    "`before` goes with `until`": "e.g. `wait: {until: event.start, before: 1h}`",
    "not a duration": "write a duration such as 30m, 12h, 3d or 2w",
    "give the audience a source": "e.g. `audience: {program: event.program}` (DR) or "
    "`audience: {grid: true}` (outages)",
}


def _percent_hint(path: Path, item: Any) -> str:
    number = item["input"].strip().removesuffix("%").strip()
    if path[-1:] == ("weight",):
        return f"write {number} (weights are relative: 50 and 50 split evenly)"
    try:
        share = float(number) / 100
    except ValueError:
        return "write a plain number"
    return f"write {share:g} (a share between 0 and 1: {number}% is {share:g})"


def _hint_for(path: Path, kind: str, message: str) -> str:
    for fragment, hint in _VALIDATOR_HINTS.items():
        if fragment in message:
            return hint
    if path[-1:] == ("until_local_time",):
        return "write a time of day in quotes, as HH:MM, e.g. '09:00' or '18:30'"
    if kind.startswith(("greater", "less")):
        return "use a number in the allowed range"
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type"):
        return "write a plain number, e.g. 0.05"
    if kind in ("string_type", "bool_type", "bool_parsing"):
        return "check the value's type against `gridjourney journeys schema`"
    return GENERIC_HINT


def _step_kind_error(path: Path, positions: Positions, data: Any) -> JourneyError:
    step = _get(data, path)
    kinds = [k for k in schema.STEP_KINDS if isinstance(step, dict) and k in step]
    if len(kinds) > 1:
        return positions.error(
            path, f"a step has one kind, this one has {len(kinds)}: {', '.join(kinds)}", "split it into steps"
        )
    allowed = {name for kind in _STEP_MODELS.values() for name in kind.model_fields}
    unknown = [k for k in step if k not in allowed] if isinstance(step, dict) else []
    if unknown:
        name = unknown[0]
        return positions.error(
            (*path, name), f"unknown key `{name}`", did_you_mean(name, allowed, "allowed keys"), key=True
        )
    return positions.error(path, "a step needs exactly one of: " + ", ".join(schema.STEP_KINDS), GENERIC_HINT)


_STEP_MODELS: dict[str, type[schema.Strict]] = {
    "send": schema.SendStep,
    "wait": schema.WaitStep,
    "wait_for": schema.WaitForStep,
    "branch": schema.BranchStep,
    "split": schema.SplitStep,
    "score": schema.ScoreStep,
    "update": schema.UpdateStep,
    "dr_performance": schema.DrPerformanceStep,
    "end": schema.EndStep,
}
_NESTED: dict[tuple[type[schema.Strict], str], type[schema.Strict]] = {
    (JourneyDefinition, "trigger"): schema.TriggerSpec,
    (JourneyDefinition, "entry"): schema.EntrySpec,
    (JourneyDefinition, "goal"): schema.GoalSpec,
    (JourneyDefinition, "exit_on"): schema.ExitOnSpec,
    (schema.SendStep, "send"): schema.SendSpec,
    (schema.WaitStep, "wait"): schema.WaitSpec,
    (schema.WaitForStep, "wait_for"): schema.WaitForSpec,
    (schema.BranchStep, "branch"): schema.BranchCase,
    (schema.SplitStep, "split"): schema.SplitArm,
    (schema.ScoreStep, "score"): schema.ScoreSpec,
    (schema.UpdateStep, "update"): schema.UpdateSpec,
    (schema.DrPerformanceStep, "dr_performance"): schema.DrPerformanceSpec,
    (JourneyDefinition, "cohort"): schema.CohortSpec,
    (schema.CohortSpec, "audience"): schema.AudienceSpec,
    (schema.AudienceSpec, "target"): schema.TargetSpec,
    (schema.CohortSpec, "on_update"): schema.UpdateNotice,
    (schema.UpdateNotice, "send"): schema.SendSpec,
    (schema.UpdateNotice, "moved_by"): schema.MovedBy,
}


def _fields_at(path: Path) -> list[str]:
    """The keys allowed in the mapping that holds `path[-1]`."""
    model: type[schema.Strict] = JourneyDefinition
    parts = [p for p in path[:-1] if isinstance(p, str)]
    for i, part in enumerate(parts):
        if model is JourneyDefinition and part == "steps":
            # the step's kind is a key on the way (a step's own unknown key may be named like one)
            below = [k for k in _STEP_MODELS if k in parts[i + 1 :]]
            kind = below[0] if below else next((k for k in _STEP_MODELS if k == path[-1]), None)
            if kind is None:
                return sorted({n for m in _STEP_MODELS.values() for n in m.model_fields})
            model = _STEP_MODELS[kind]
            continue
        nested = _NESTED.get((model, part))
        if nested is None:
            break
        model = nested
    return sorted(model.model_fields)


def did_you_mean(name: str, candidates: Iterable[str], what: str = "one of") -> str:
    """A hint naming the closest candidate (for the compiler's unknown ids and event types)."""
    return expressions.did_you_mean(name, candidates, what)


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def iter_yaml_files(paths: Iterable[str | FsPath]) -> Iterator[FsPath]:
    """The journey files named: files as given, directories' *.yaml / *.yml (sorted)."""
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path
