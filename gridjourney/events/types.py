"""Registered event types and their payload schemas.

An event's `type` must be registered here; its payload is validated against the model before it is
appended. Models forbid unknown fields so a typo in an integration is refused, not silently kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

Channel = Literal["sms", "email", "push"]
Purpose = Literal["marketing", "informational", "safety"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- customers and consent -----------------------------------------------------------------------
class CustomerCreated(Payload):
    name: str | None = None
    phone: str | None = Field(None, description="E.164, e.g. +15035550100")
    email: str | None = None
    locale: str = Field("en", description="Language for messages: en, es, ...")
    time_zone: str = Field("UTC", description="IANA zone, e.g. America/Los_Angeles")
    attributes: dict[str, Any] = Field(default_factory=dict)


class CustomerUpdated(Payload):
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="Merged into the customer's.")


class ConsentChanged(Payload):
    channel: Channel
    purpose: Purpose
    granted: bool
    method: str | None = Field(None, description="How it was given or revoked: web, sms_stop, call, ...")


# --- billing and metering -------------------------------------------------------------------------
class BillProjectionUpdated(Payload):
    projected_amount: float = Field(ge=0)
    typical_amount: float = Field(ge=0)
    days_left: int = Field(ge=0)
    ratio: float | None = Field(
        None, ge=0, description="projected_amount / typical_amount (the scorer fills it; optional)."
    )
    bill_period_start: datetime | None = None
    bill_period_end: datetime | None = None
    currency: str = "USD"


class BillIssued(Payload):
    amount: float = Field(ge=0)
    due_date: datetime | None = None
    bill_period_start: datetime | None = None
    bill_period_end: datetime | None = None


class MeterAnomalyDetected(Payload):
    anomaly_type: str
    score: float
    meter_id: str | None = None
    description: str | None = None
    days: list[str] = Field(default_factory=list)


class MeterReadsImported(Payload):
    """One imported file of interval reads (the reads themselves are in meter_reads, not in the log)."""

    import_id: str
    format: str = Field(description="espi-xml or csv")
    content_sha256: str
    file_name: str | None = None
    meter_ids: list[str] = Field(default_factory=list)
    reads_in_file: int = Field(ge=0)
    reads_stored: int = Field(
        ge=0, description="Reads not stored before (overlaps with earlier files merge)."
    )
    first_read_at: AwareDatetime | None = None
    last_read_at: AwareDatetime | None = None
    total_kwh: float
    interval_seconds: list[int] = Field(default_factory=list)
    issue_counts: dict[str, int] = Field(default_factory=dict, description="gap, duplicate, negative, ...")


class UsageReduced(Payload):
    kwh_saved: float
    period_days: int = Field(ge=1)


# --- demand response and outages -----------------------------------------------------------------
class DrEventScheduled(Payload):
    dr_event_id: str
    program: str
    start: AwareDatetime
    end: AwareDatetime
    modification_number: int = 0


class DrEventCancelled(Payload):
    dr_event_id: str
    reason: str | None = None


class OutageDetected(Payload):
    incident_id: str
    premise_id: str | None = None
    feeder: str | None = None
    cause: str | None = None
    etr: AwareDatetime | None = Field(None, description="Estimated time of restoration.")


class OutageEtrUpdated(Payload):
    incident_id: str
    etr: AwareDatetime


class OutageRestored(Payload):
    incident_id: str
    restored_at: AwareDatetime


# --- the engine's own events ---------------------------------------------------------------------
class JourneyEntered(Payload):
    journey_id: str
    version: int
    instance_id: str
    holdout: bool
    trigger_event_id: str | None = None


class JourneyStepCompleted(Payload):
    journey_id: str
    version: int
    instance_id: str
    step_id: str
    kind: str
    outcome: str | None = None
    next_step: str | None = Field(None, description="The step the journey goes on to (None: it ends).")


class JourneyExited(Payload):
    journey_id: str
    version: int
    instance_id: str
    reason: str


class JourneyConverted(Payload):
    journey_id: str
    version: int
    instance_id: str
    goal_event: str
    goal_event_id: str | None = None


class MessageBase(Payload):
    idempotency_key: str
    journey_id: str | None = None
    instance_id: str | None = None
    step_id: str | None = None
    template: str | None = None
    channel: Channel | None = None
    locale: str | None = None


class MessageSent(MessageBase):
    provider_message_id: str | None = None
    segments: int | None = None


class MessageSuppressed(MessageBase):
    reason: str


class MessageDelivered(MessageBase):
    provider_message_id: str | None = None


class MessageFailed(MessageBase):
    reason: str


class CustomerErased(Payload):
    """Recorded by `DELETE /v1/customers/{id}`: the customer's data key is destroyed, their personal
    fields in the log read null and the projections hold none (gridjourney/privacy/)."""


EVENT_TYPES: dict[str, type[Payload]] = {
    "customer.created": CustomerCreated,
    "customer.updated": CustomerUpdated,
    "consent.changed": ConsentChanged,
    "bill.projection_updated": BillProjectionUpdated,
    "bill.issued": BillIssued,
    "meter.anomaly_detected": MeterAnomalyDetected,
    "meter.reads_imported": MeterReadsImported,
    "usage.reduced": UsageReduced,
    "dr.event_scheduled": DrEventScheduled,
    "dr.event_cancelled": DrEventCancelled,
    "outage.detected": OutageDetected,
    "outage.etr_updated": OutageEtrUpdated,
    "outage.restored": OutageRestored,
    "journey.entered": JourneyEntered,
    "journey.step_completed": JourneyStepCompleted,
    "journey.exited": JourneyExited,
    "journey.converted": JourneyConverted,
    "message.sent": MessageSent,
    "message.suppressed": MessageSuppressed,
    "message.delivered": MessageDelivered,
    "message.failed": MessageFailed,
    "customer.erased": CustomerErased,
}

# Events only the engine itself may append (the API refuses them from integrations).
ENGINE_EVENT_PREFIXES = ("journey.", "message.", "customer.erased")


class UnknownEventType(ValueError):
    def __init__(self, event_type: str) -> None:
        known = ", ".join(sorted(EVENT_TYPES))
        super().__init__(f"unknown event type {event_type!r}; known types: {known}")
        self.event_type = event_type


def payload_model(event_type: str) -> type[Payload]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def validate_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: validated, defaults filled, JSON-ready. Raises UnknownEventType or
    pydantic.ValidationError (whose locations name the payload field)."""
    return payload_model(event_type).model_validate(payload).model_dump(mode="json")


__all__ = ["EVENT_TYPES", "UnknownEventType", "ValidationError", "payload_model", "validate_payload"]
