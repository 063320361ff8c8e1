"""Pydantic's validation errors of a journey file → JourneyErrors at the line and column of the value
(or key) they are about, each with a hint: a missing key at the mapping that lacks it, an unknown
key with the keys allowed there, a step of no or several kinds, validator messages placed at the
key they name. (dsl/loader.py composes the file and records the positions.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gridjourney.dsl import schema
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.suggestions import did_you_mean

if TYPE_CHECKING:  # the loader imports this module
    from gridjourney.dsl.loader import JourneyError, Path, Positions

GENERIC_HINT = "see `gridjourney journeys schema` for the journey language"


def validation_errors(error: ValidationError, data: Any, positions: Positions) -> list[JourneyError]:
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


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data
