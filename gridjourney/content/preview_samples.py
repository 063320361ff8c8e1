"""The sample values `journeys preview` (and `journeys validate`'s SMS segment counts) render with.

Samples read like a real message: each field of an event gets its own value (a bill's low and high
estimates bracket its projection, above the usual amount; a period's start comes before its end; a
score is a fraction), a scheduled journey's fire is its next one, and a `--customer` field the
utility never declared is a warning with the nearest declared name. Amounts stay on the long side
(four digits) so that a text that fits here fits for real customers too."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gridjourney.dsl.schedule import SCHEDULE_EVENT, fire_times, schedule_problems
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.vocabulary import PROFILE_FIELDS, AttributeSpec, CustomerAttributes
from gridjourney.events.types import known_event_types

SAMPLE_TIME = "2026-07-14T22:00:00+00:00"
_SAMPLE_MOMENT = datetime.fromisoformat(SAMPLE_TIME)
AMOUNT = 1234.56  # a projected bill, an amount due: the sample's main amount
# An amount's name → its share of AMOUNT, so that related amounts read as one story.
_AMOUNT_SHARES = (("_low", 0.85), ("_high", 1.15), ("typical", 0.65), ("usual", 0.65), ("baseline", 0.65))
# A number's name → a value of its kind (ratios, shares and scores are not amounts).
_NUMBER_KINDS = (
    ("ratio", 1.54),
    ("share", 0.35),
    ("propensity", 0.62),
    ("probability", 0.62),
    ("score", 0.62),
    ("kwh", 412.5),
    ("kw", 3.2),
    ("percent", 18.5),
)
# A time's name → days from SAMPLE_TIME: a period starts before it ends, a bill falls due after.
_TIME_OFFSETS = (("start", -20), ("end", 10), ("due", 24), ("until", 3), ("expires", 30))
_INTEGERS = (30, 12, 45, 7, 90, 3)  # distinct counts, in field order


def _plain(annotation: Any) -> Any:
    """The type under Annotated[...] and Optional[...] (the first of a union's other members)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _plain(options[0]) if options else None
    return annotation


def number_sample(name: str, index: int = 0) -> float:
    """A float named `name`, the `index`-th float of its event: amounts around AMOUNT, told apart."""
    lowered = name.lower()
    for word, value in _NUMBER_KINDS:
        if word in lowered:
            return value
    for word, share in _AMOUNT_SHARES:
        if word in lowered:
            return round(AMOUNT * share, 2)
    return round(AMOUNT + 111.11 * index, 2)


def time_sample(name: str) -> str:
    lowered = name.lower()
    for word, days in _TIME_OFFSETS:
        if word in lowered:
            return (_SAMPLE_MOMENT + timedelta(days=days)).isoformat()
    return SAMPLE_TIME


def _sample(annotation: Any, name: str, index: int) -> Any:
    plain = _plain(annotation)
    if typing.get_origin(plain) is typing.Literal:
        return typing.get_args(plain)[0]
    if plain is bool:
        return True
    if plain is int:
        return 12 if "days" in name.lower() else _INTEGERS[index % len(_INTEGERS)]
    if plain is float:
        return number_sample(name, index)
    # pydantic's AwareDatetime & co. are marker classes, not datetime subclasses
    if plain is datetime or getattr(plain, "__name__", "").endswith("Datetime"):
        return time_sample(name)
    if typing.get_origin(plain) in (list, dict):
        return typing.get_origin(plain)()
    return f"{name.upper()}-0001"


def sample_event(event_type: str) -> dict[str, Any]:
    """The event as templates see it, with sample values for every payload field: a value of the
    field's type and name, distinct per field. (Not the models' `examples`: a declared type's are one
    per field type, 42.5 for every number, and the built-in ones have none.)"""
    if event_type == SCHEDULE_EVENT:  # a schedule trigger's fire (dsl/schedule.py)
        fire = {"scheduled_for": SAMPLE_TIME, "journey_id": "JOURNEY_ID-0001"}
        return {**fire, "type": event_type, "occurred_at": SAMPLE_TIME}
    model = known_event_types()[event_type]  # built-in or declared in events/*.yaml
    payload: dict[str, Any] = {}
    counted: dict[Any, int] = {}  # how many fields of each type came before: their values differ
    for name, field in model.model_fields.items():
        plain = _plain(field.annotation)
        index = counted.get(plain, 0)
        counted[plain] = index + 1
        payload[name] = _sample(field.annotation, name, index)
    return {**payload, "type": event_type, "occurred_at": SAMPLE_TIME}


def fire_sample(definition: JourneyDefinition, zone: str, after: datetime) -> dict[str, Any] | None:
    """A scheduled journey's `event`: its next fire after `after` (as ScheduleFireWorkflow gives it:
    the UTC minute, ISO 8601), or None when it has no schedule or cannot fire (validate says why)."""
    trigger = definition.schedule
    if trigger is None or trigger.schedule is None or schedule_problems(trigger.schedule, zone):
        return None
    fires = fire_times(trigger.schedule, zone, after, 1)
    if not fires:
        return None
    fire = fires[0].astimezone(UTC).isoformat()
    return {"scheduled_for": fire, "journey_id": definition.id, "type": SCHEDULE_EVENT, "occurred_at": fire}


_DECLARED_SAMPLES: dict[str, Any] = {
    "integer": 12,
    "boolean": True,
    "timestamp": SAMPLE_TIME,
    "list": [],
    "object": {},
}


def declared_sample(name: str, spec: AttributeSpec) -> Any:
    """A declared attribute's or score's sample: a string's first allowed value, a number by name."""
    if spec.type == "string":
        return spec.values[0] if spec.values else name.upper()
    if spec.type == "number":
        return number_sample(name)
    return _DECLARED_SAMPLES[spec.type]


def customer_warnings(given: Mapping[str, Any], declared: CustomerAttributes | None) -> list[str]:
    """A warning for each field of a given sample customer (`--customer`) that `customer` never has:
    neither a profile field nor a declared attribute, segment or score (none without declarations:
    then attributes are not checked). A typo would render as the generated value, unnoticed."""
    if declared is None:
        return []
    known = sorted(declared.shape().keys or dict.fromkeys(PROFILE_FIELDS))
    warnings = []
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f": did you mean `{close[0]}`?" if close else f" (declared: {', '.join(known)})"
        warnings.append(f"--customer: `{name}` is not a declared customer attribute{hint}")
    return warnings
