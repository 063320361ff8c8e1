"""The event envelope, as integrations send it and as the store returns it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gridjourney.dsl.durations import format_duration
from gridjourney.events.fields import (
    CUSTOMER_ID_PATTERN,
    INT32_MAX,
    CustomerId,
    Label,
    PayloadObject,
    Timestamp,
    admission,
)
from gridjourney.events.types import CUSTOMER_EVENT_PREFIXES, is_about_a_customer
from gridjourney.file_errors import FileErrors

ENGINE_CUSTOMER_PREFIX = "gridjourney."


class NewEvent(BaseModel):
    """An event to append. `event_id` is the idempotency key: a repeat returns the first result."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    event_id: uuid.UUID = Field(description="Idempotency key chosen by the sender (UUID).")
    type: Label = Field(description="A registered event type, e.g. bill.projection_updated.")
    customer_id: CustomerId | None = Field(
        None,
        validate_default=True,
        description=f"The customer the event is about, matching `{CUSTOMER_ID_PATTERN}`. Required for "
        f"{', '.join(p + '*' for p in CUSTOMER_EVENT_PREFIXES)} events; unset for DR and outage events.",
    )
    occurred_at: Timestamp = Field(
        description="When it happened: an RFC 3339 string with a zone, by default at most 1 day ahead "
        "and 10 years back (GRIDJOURNEY_OCCURRED_AT_MAX_FUTURE / _MAX_PAST)."
    )
    source: Label = Field(description="Who sent it: billing, mdm, oms, dr-operator, ...")
    payload: PayloadObject = Field(default_factory=dict)
    schema_version: int = Field(1, ge=1, le=INT32_MAX)

    @field_validator("customer_id")
    @classmethod
    def _about_a_customer(cls, value: str | None, info: ValidationInfo) -> str | None:
        event_type = info.data.get("type")
        if value is None and isinstance(event_type, str) and about_a_customer_or_unknown(event_type):
            raise ValueError(f"required for {event_type} events (they are about one customer)")
        # the engine's own ids (privacy/address_hash.py ANYONE holds the suppressions of no customer)
        if value is not None and value.startswith(ENGINE_CUSTOMER_PREFIX) and admission(info) is not None:
            raise ValueError(f"ids starting with {ENGINE_CUSTOMER_PREFIX!r} are reserved for the engine")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _within_bounds(cls, value: datetime, info: ValidationInfo) -> datetime:
        door = admission(info)
        if door is None:
            return value
        if value > door.now + door.max_future:
            limit = format_duration(door.max_future)
            raise ValueError(f"lies more than {limit} in the future (GRIDJOURNEY_OCCURRED_AT_MAX_FUTURE)")
        if value < door.now - door.max_past:
            raise ValueError(f"lies more than {door.max_past.days} days in the past")
        return value


def about_a_customer_or_unknown(event_type: str) -> bool:
    """Whether NewEvent requires a customer_id for this type."""
    try:
        return is_about_a_customer(event_type)
    except FileErrors:  # events/*.yaml is broken: the type is reported unknown instead
        return False


_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def engine_event(
    *,
    event_id: uuid.UUID,
    event_type: str,
    customer_id: str | None,
    occurred_at: datetime,
    source: str,
    payload: dict[str, Any],
) -> NewEvent:
    """A NewEvent the engine builds itself (message outcomes, one per member of a cohort batch) from
    values it has validated already, without running the door's envelope validation again.

    Only the envelope is skipped, and only what the engine derives itself: a uuid5 id, its own type
    and source constants, the clock's time. The customer id is still checked against its pattern
    here, and the store validates every payload by its type's model before anything is written
    (events/store.py `_rows`), so no value reaches the log unchecked. Doors (the API, webhooks)
    keep building NewEvent through pydantic."""
    if customer_id is None:
        if event_type.startswith(CUSTOMER_EVENT_PREFIXES):
            raise ValueError(f"customer_id is required for {event_type} events (they are about one customer)")
    elif not _CUSTOMER_ID.match(customer_id):
        raise ValueError(f"customer_id {customer_id!r} does not match {CUSTOMER_ID_PATTERN}")
    # What NewEvent.model_construct makes of these seven values (every field given, in the fields'
    # order), without its walk over each field's aliases (tests/events/test_models_engine_event.py).
    values = {
        "event_id": event_id,
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": occurred_at,
        "source": source,
        "payload": payload,
        "schema_version": 1,
    }
    return constructed_event(values, set(_ENGINE_FIELDS))


def constructed_event(values: dict[str, Any], fields_set: set[str]) -> NewEvent:
    """A NewEvent of `values` (every field, in the fields' order) as validated elsewhere, the fields the
    sender gave being `fields_set`: what model_construct makes of them, without its walk."""
    event = _new_event(NewEvent)
    _set_attribute(event, "__dict__", values)
    _set_attribute(event, "__pydantic_fields_set__", fields_set)
    _set_attribute(event, "__pydantic_extra__", None)
    _set_attribute(event, "__pydantic_private__", None)
    return event


_new_event = BaseModel.__new__
_set_attribute = object.__setattr__
_ENGINE_FIELDS = ("event_id", "type", "customer_id", "occurred_at", "source", "payload", "schema_version")
# The construction above holds only while NewEvent is a plain model: these fields in this order, no
# aliases, no private attributes, no post-init, extra values forbidden.
assert tuple(NewEvent.model_fields) == _ENGINE_FIELDS
assert not any(f.alias or f.validation_alias for f in NewEvent.model_fields.values())
assert not NewEvent.__private_attributes__ and not NewEvent.__pydantic_post_init__
assert NewEvent.model_config.get("extra") == "forbid" and not NewEvent.__pydantic_root_model__


class StoredEvent(BaseModel):
    """An event as the log holds it. The rules of the door (NewEvent) are not applied again on reading:
    an event accepted under older rules must still be read, so one old row can never stop a reader."""

    # Rows carry storage columns (the fingerprint) that are not part of the event as readers see it.
    model_config = ConfigDict(extra="ignore")

    event_id: uuid.UUID
    type: str
    customer_id: str | None = None
    occurred_at: datetime
    source: str
    payload: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = 1
    position: int
    recorded_at: datetime


class AppendResult(BaseModel):
    event_id: uuid.UUID
    position: int
    duplicate: bool = Field(description="True when this event_id was appended before; nothing was written.")


def append_result(event_id: uuid.UUID, position: int, duplicate: bool) -> AppendResult:
    """What `AppendResult.model_construct` makes of the three values, without its walk over the fields:
    the store answers one per event (a third of a microsecond here, several there)."""
    result = _new_event(AppendResult)
    _set_attribute(result, "__dict__", {"event_id": event_id, "position": position, "duplicate": duplicate})
    _set_attribute(result, "__pydantic_fields_set__", {"event_id", "position", "duplicate"})
    _set_attribute(result, "__pydantic_extra__", None)
    _set_attribute(result, "__pydantic_private__", None)
    return result


assert tuple(AppendResult.model_fields) == ("event_id", "position", "duplicate")
assert not AppendResult.__private_attributes__ and not AppendResult.__pydantic_post_init__

__all__ = ["AppendResult", "NewEvent", "StoredEvent", "append_result", "constructed_event", "engine_event"]
