"""The names journeys may use, as the utility declares them: customer attributes, segments and scores
(`customer_attributes.yaml`, GRIDJOURNEY_CUSTOMER_ATTRIBUTES_FILE), and event types (built-in, and
declared in events/*.yaml: gridjourney/events/declared.py).

    attributes:
      tariff: {type: string, description: The customer's current tariff.}
      heating: {type: string, values: [electric, gas, heat_pump, other]}
    segments: [evening_peak, ev_charging, solar_export, flat]
    scores:
      dr_propensity: {type: number, description: Likely to enrol in demand response (0-1).}

Expressions and templates read `customer.<attribute>`, `customer.segment` (one of `segments`) and
`customer.scores.<score>`, besides the profile's own `customer_id`, `name`, `locale` and
`time_zone`; a name not declared is an error with a "did you mean". Without the file, customer
attributes are not checked.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridjourney.dsl.declarations import DeclarationErrors, declaration_text, read_declaration, validate_at
from gridjourney.dsl.expressions import EVENT_ENVELOPE
from gridjourney.dsl.field_shapes import ANY, Shape
from gridjourney.events.types import known_event_types

# What `customer` has besides its attributes (workflows/contracts.py CustomerContext.namespace).
PROFILE_FIELDS = ("customer_id", "name", "locale", "time_zone")
# The scoring's stamps, one per score (workflows/decisions.py).
SCORES_UPDATED_AT = "scores_updated_at"
FORMAT_HINT = (
    "declare `attributes: {name: {type: string}}`, `segments: [...]` and `scores: {name: {type: number}}` "
    "(see gridjourney/dsl/vocabulary.py)"
)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class AttributeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "number", "integer", "boolean", "timestamp", "list", "object"]
    description: str | None = None
    values: list[str] | None = Field(None, min_length=1, description="A string's allowed values.")


class CustomerAttributes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attributes: dict[Name, AttributeSpec] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    scores: dict[Name, AttributeSpec] = Field(default_factory=dict)

    def shape(self) -> Shape:
        """What `customer` has, for the load-time checks of expressions and templates."""
        keys: dict[str, Shape] = dict.fromkeys(PROFILE_FIELDS, ANY)
        for name, spec in self.attributes.items():
            if spec.type in ("list", "object"):
                keys[name] = ANY  # free-form inside
            else:
                keys[name] = Shape(keys={}, values=frozenset(spec.values) if spec.values else None)
        if self.segments:
            keys["segment"] = Shape(keys={}, values=frozenset(self.segments))
        scores = dict.fromkeys(self.scores, Shape(keys={}))
        keys["scores"] = Shape(keys=scores, keys_are="scores")
        keys[SCORES_UPDATED_AT] = Shape(keys=dict.fromkeys(self.scores, Shape(keys={})), keys_are="scores")
        return Shape(keys=keys, keys_are="attributes")


def load_customer_attributes(path: Path) -> CustomerAttributes | None:
    """The declared attributes (None: no such file, nothing is checked); raises DeclarationErrors."""
    if not path.is_file():
        return None
    data, positions = read_declaration(declaration_text(path), str(path), FORMAT_HINT)
    found = validate_at(data, (), positions, CustomerAttributes, FORMAT_HINT)
    if isinstance(found, list):
        raise DeclarationErrors(found)
    return found


@lru_cache(maxsize=8)
def _cached(path: Path) -> CustomerAttributes | None:
    return load_customer_attributes(path)


def customer_attributes(path: Path | None = None) -> CustomerAttributes | None:
    """The declarations of `path` (default: GRIDJOURNEY_CUSTOMER_ATTRIBUTES_FILE), read once."""
    if path is None:
        from gridjourney.config import get_settings

        path = get_settings().customer_attributes_file
    return _cached(path.resolve())


def customer_shape() -> Shape | None:
    """What `customer` has (None: attributes are not declared, any name passes)."""
    declared = customer_attributes()
    return None if declared is None else declared.shape()


def routed_event_types() -> list[str]:
    """The event types journeys can hear: built-in and declared, less the engine's own records."""
    from gridjourney.router.router import is_routed  # the router decides; imported late (cycle)

    return sorted(t for t in known_event_types() if is_routed(t))


def event_shape(event_type: str, customer: Shape | None) -> Shape | None:
    """What `event` has for this type (None: unknown type). A customer.created/updated event's
    `attributes` are the customer's declared ones."""
    model = known_event_types().get(event_type)
    if model is None:
        return None
    keys: dict[str, Shape] = dict.fromkeys([*model.model_fields, *EVENT_ENVELOPE], ANY)
    if event_type in ("customer.created", "customer.updated") and customer is not None:
        assert customer.keys is not None
        attributes = {k: v for k, v in customer.keys.items() if k not in PROFILE_FIELDS}
        keys["attributes"] = Shape(keys=attributes, keys_are="attributes")
    return Shape(keys=keys)
