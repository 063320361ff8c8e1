"""Event types a utility declares itself, in `events/*.yaml` (GRIDJOURNEY_EVENTS_DIR), next to the
built-in ones of events/types.py. Each file maps event types to their payload fields::

    bill.past_due:
      description: A bill was not paid by its due date.
      fields:
        amount_due: {type: number, description: What is owed, in the bill's currency.}
        days_past_due: {type: integer}
        hardship: {type: boolean, required: false}

Field types: string, number, integer, boolean, timestamp (RFC 3339 with a zone); a string may list
its `values`. Fields are required unless `required: false`. `about: customer` (the default) makes
`customer_id` required, as for bill.* events; `about: utility` events name no customer.

A declared type is validated at `POST /v1/events` and by the store like a built-in one (unknown
fields refused, every value bounded by events/fields.py), appears in the OpenAPI document and in the
journey schema, and journeys may use it. Redefining a built-in type, or a type of the engine's own
(journey.*, message.*, ...), is refused at its file:line:column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from gridjourney.events.fields import INT64_MAX, SignedQuantity, Text, Timestamp
from gridjourney.events.types import ENGINE_EVENT_PREFIXES, EVENT_TYPES, Payload

TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
FIELD_PATTERN = r"^[a-z][a-z0-9_]*$"
FORMAT_HINT = (
    "declare event types as `bill.past_due: {description: ..., fields: {amount_due: {type: number}}}` "
    "(see gridjourney/events/declared.py)"
)
FieldType = Literal["string", "number", "integer", "boolean", "timestamp"]
_TYPES: dict[str, Any] = {
    "string": Text,
    "number": SignedQuantity,
    "integer": Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)],
    "boolean": bool,
    "timestamp": Timestamp,
}
# A field's example in the OpenAPI document, by its type.
_EXAMPLES: dict[str, Any] = {
    "string": "text",
    "number": 42.5,
    "integer": 3,
    "boolean": True,
    "timestamp": "2025-11-03T09:00:00Z",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclaredField(_Strict):
    type: FieldType = Field(description="string, number, integer, boolean or timestamp.")
    description: str | None = None
    required: bool = Field(True, description="false: the field may be left out (then it is null).")
    values: list[str] | None = Field(None, min_length=1, description="A string's allowed values.")


class DeclaredEventType(_Strict):
    description: str | None = None
    about: Literal["customer", "utility"] = Field(
        "customer", description="customer: the event names its customer_id (required)."
    )
    fields: dict[Annotated[str, Field(pattern=FIELD_PATTERN, max_length=64)], DeclaredField] = Field(
        default_factory=dict
    )


@dataclass(frozen=True)
class DeclaredEvents:
    """The declared types: their payload models, and which of them are about one customer."""

    models: dict[str, type[Payload]] = field(default_factory=dict)
    about_customer: frozenset[str] = frozenset()
    files: dict[str, str] = field(default_factory=dict)  # type → the file declaring it


def load_declared_events(directory: Path) -> DeclaredEvents:
    """Every `*.yaml` of `directory` (none, or no directory: no declared types). Raises
    DeclarationErrors listing every problem of every file."""
    from gridjourney.dsl.declarations import (
        DeclarationErrors,
        declaration_text,
        key_at,
        read_declaration,
        validate_at,
    )

    if not directory.is_dir():
        return DeclaredEvents()
    models: dict[str, type[Payload]] = {}
    about: set[str] = set()
    files: dict[str, str] = {}
    problems = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        try:
            data, positions = read_declaration(declaration_text(path), str(path), FORMAT_HINT)
        except DeclarationErrors as errors:
            problems += errors.errors
            continue
        for name in data:
            refusal = _refusal(name, files)
            if refusal is not None:
                problems.append(key_at(positions, (name,), refusal[0], refusal[1]))
                continue
            spec = validate_at(data, (name,), positions, DeclaredEventType, FORMAT_HINT)
            if isinstance(spec, list):
                problems += spec
                continue
            models[name] = payload_model_of(name, spec)
            files[name] = str(path)
            if spec.about == "customer":
                about.add(name)
    if problems:
        raise DeclarationErrors(problems)
    return DeclaredEvents(models, frozenset(about), files)


def _refusal(name: str, declared_in: dict[str, str]) -> tuple[str, str] | None:
    if name in EVENT_TYPES:
        return (
            f"`{name}` is a built-in event type; it cannot be redefined",
            "give your event another name, e.g. a prefix of your own",
        )
    if name.startswith(ENGINE_EVENT_PREFIXES):
        return (
            f"`{name}`: {', '.join(p + '*' for p in ENGINE_EVENT_PREFIXES)} events are the engine's own",
            "give your event another name",
        )
    if not re.match(TYPE_PATTERN, name) or len(name) > 100:
        return (
            f"`{name}` is not an event type name",
            "write lowercase words joined by a dot, e.g. bill.past_due or audit.booked",
        )
    if name in declared_in:
        return (f"`{name}` is declared twice (also in {declared_in[name]})", "keep one declaration")
    return None


def payload_model_of(name: str, spec: DeclaredEventType) -> type[Payload]:
    """The payload model of a declared type: its fields, typed and bounded; nothing else allowed."""
    definitions: dict[str, Any] = {}
    for field_name, declared in spec.fields.items():
        kind: Any = Literal[tuple(declared.values)] if declared.values else _TYPES[declared.type]
        info = Field(
            ... if declared.required else None,
            description=declared.description,
            examples=[declared.values[0] if declared.values else _EXAMPLES[declared.type]],
        )
        definitions[field_name] = (kind if declared.required else kind | None, info)
    model: type[Payload] = create_model(
        "Declared_" + re.sub(r"\W", "_", name), __base__=Payload, __doc__=spec.description, **definitions
    )
    return model


@lru_cache(maxsize=8)
def _cached(directory: Path) -> DeclaredEvents:
    return load_declared_events(directory)


def declared_events(directory: Path | None = None) -> DeclaredEvents:
    """The declared types of `directory` (default: GRIDJOURNEY_EVENTS_DIR), read once per process."""
    if directory is None:
        from gridjourney.config import get_settings

        directory = get_settings().events_dir
    return _cached(directory.resolve())
