"""The quick check of `POST /v1/events`: every event of a request validated in one pydantic-core call.

The careful check (api/routes/events.py `_check_event`) validates each event twice over, its envelope
by NewEvent and then its payload by its type's model, from Python, one call each: about 13 ms of
CPU for a batch of 1,000. Here one TypeAdapter validates the whole list against a union of envelopes
told apart by `type`, each envelope NewEvent with its type's payload model in place of a free object
(about 6 ms). Its rules are the careful check's: the same NewEvent validators, the same payload
models with the same context, and the bound on a payload's size (PayloadObject) before its model.
It only ever accepts: when anything in the request fails it, the careful check runs and words every
error as before (tests/api/test_event_batch.py checks that both agree on generated requests).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, create_model

from gridjourney.events.fields import PAYLOAD_MAX_NODES, json_value_problem
from gridjourney.events.models import NewEvent, constructed_event
from gridjourney.events.store import CheckedEvent
from gridjourney.events.types import payload_model


def _bounded(value: Any) -> Any:
    """PayloadObject's bound, ahead of the payload's model (an error only sends the request to the
    careful check, which names it)."""
    if isinstance(value, dict) and json_value_problem(value, json_only=False, max_nodes=PAYLOAD_MAX_NODES):
        raise ValueError("payload out of bounds")
    return value


def _envelope(event_type: str) -> type[NewEvent]:
    """NewEvent for one type: `type` is that type, `payload` its model (bounded first, {} if absent)."""
    payload: Any = Annotated[payload_model(event_type), BeforeValidator(_bounded)]
    this_type: Any = Literal[event_type]
    model: type[NewEvent] = create_model(
        "Checked_" + re.sub(r"\W", "_", event_type),
        __base__=NewEvent,
        type=(this_type, ...),
        payload=(payload, Field(default_factory=dict, validate_default=True)),
    )
    return model


@cache
def _adapter(event_types: tuple[str, ...]) -> TypeAdapter[list[NewEvent]]:
    envelopes = tuple(_envelope(event_type) for event_type in event_types)
    item: Any = Annotated[Union[envelopes], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(list[item])


def warm(event_types: tuple[str, ...]) -> None:
    """Build the validator now (at start-up) rather than in the first request."""
    _adapter(event_types)


def quickly_checked(
    items: list[Any], event_types: tuple[str, ...], context: dict[str, Any]
) -> list[CheckedEvent] | None:
    """The events of `items` as the careful check would accept them, or None when any of them is not
    one of `event_types` or is invalid (then the careful check finds what and where)."""
    try:
        validated = _adapter(event_types).validate_python(items, context=context)
    except ValidationError:
        return None
    checked: list[CheckedEvent] = []
    for item, envelope in zip(items, validated, strict=True):
        values = dict(envelope.__dict__)
        payload_instance = values["payload"]
        # NewEvent keeps the payload as sent (a copy, as its validation makes); the store writes it
        # as its model made it.
        values["payload"] = dict(item.get("payload", {}))
        event = constructed_event(values, set(envelope.model_fields_set))
        checked.append(CheckedEvent(event, payload_instance.model_dump(mode="json")))
    return checked
