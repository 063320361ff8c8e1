"""The event envelope, as integrations send it and as the store returns it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class NewEvent(BaseModel):
    """An event to append. `event_id` is the idempotency key: a repeat returns the first result."""

    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID = Field(description="Idempotency key chosen by the sender (UUID).")
    type: str = Field(description="A registered event type, e.g. bill.projection_updated.")
    customer_id: str | None = Field(None, max_length=100, description="Unset for feeder/program events.")
    occurred_at: AwareDatetime = Field(description="When it happened, with a time zone.")
    source: str = Field(max_length=100, description="Who sent it: billing, mdm, oms, dr-operator, ...")
    payload: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = Field(1, ge=1)


class StoredEvent(NewEvent):
    # Rows carry storage columns (the fingerprint) that are not part of the event as readers see it.
    model_config = ConfigDict(extra="ignore")

    position: int
    recorded_at: datetime


class AppendResult(BaseModel):
    event_id: uuid.UUID
    position: int
    duplicate: bool = Field(description="True when this event_id was appended before; nothing was written.")
