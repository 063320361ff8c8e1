"""Registered event types and their payload schemas.

An event's `type` must be registered here; its payload is validated against the model before it is
appended. Models forbid unknown fields so a typo in an integration is refused, not silently kept.
Every field is bounded by what the tables and the code can hold (see events/fields.py), so that an
event accepted here can be folded by every projection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gridjourney.events.fields import (
    INT32_MAX,
    Amount,
    Count,
    Email,
    JsonObject,
    Label,
    Locale,
    LongLabel,
    Name,
    NoNul,
    Phone,
    SignedQuantity,
    Text,
    Timestamp,
    TimeZone,
    admission,
)

Channel = Literal["sms", "email", "push"]
Purpose = Literal["marketing", "informational", "safety"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --- customers and consent -----------------------------------------------------------------------
class CustomerCreated(Payload):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale = "en"
    time_zone: TimeZone = "UTC"
    premise_id: Label | None = Field(None, description="The service point the customer is supplied at.")
    transformer_id: Label | None = None
    feeder_id: Label | None = None
    attributes: JsonObject = Field(default_factory=dict)


class CustomerUpdated(Payload):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    premise_id: Label | None = Field(None, description="The service point the customer is supplied at.")
    transformer_id: Label | None = None
    feeder_id: Label | None = None
    attributes: JsonObject = Field(default_factory=dict, description="Merged into the customer's.")


class ConsentChanged(Payload):
    channel: Channel
    purpose: Purpose
    granted: bool
    method: Label | None = Field(None, description="How it was given or revoked: web, sms_stop, call, ...")


# --- billing and metering -------------------------------------------------------------------------
class BillProjectionUpdated(Payload):
    projected_amount: Amount
    typical_amount: Amount
    days_left: int = Field(ge=0, le=366)
    ratio: float | None = Field(
        None,
        ge=0,
        le=1e6,
        description="projected_amount / typical_amount (the scorer fills it; optional).",
    )
    bill_period_start: Timestamp | None = None
    bill_period_end: Timestamp | None = None
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    projected_amount_low: Amount | None = Field(None, description="10th percentile of the projection.")
    projected_amount_high: Amount | None = Field(None, description="90th percentile of the projection.")


class BillIssued(Payload):
    amount: Amount
    due_date: Timestamp | None = None
    bill_period_start: Timestamp | None = None
    bill_period_end: Timestamp | None = None


class MeterAnomalyDetected(Payload):
    anomaly_type: Label
    score: SignedQuantity
    meter_id: Label | None = None
    description: Text | None = None
    days: list[Label] = Field(default_factory=list, max_length=366)


class MeterReadsImported(Payload):
    """One imported file of interval reads (the reads themselves are in meter_reads, not in the log)."""

    import_id: Label
    format: Label = Field(description="espi-xml or csv")
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_name: Text | None = None
    meter_ids: list[Label] = Field(default_factory=list, max_length=1_000)
    reads_in_file: Count
    reads_stored: Count = Field(description="Reads not stored before (overlaps with earlier files merge).")
    first_read_at: Timestamp | None = None
    last_read_at: Timestamp | None = None
    total_kwh: SignedQuantity
    interval_seconds: list[Annotated[int, Field(ge=1, le=31 * 86_400)]] = Field(
        default_factory=list, max_length=100
    )
    issue_counts: dict[Label, Count] = Field(
        default_factory=dict, max_length=100, description="gap, duplicate, negative, ..."
    )


class UsageReduced(Payload):
    kwh_saved: SignedQuantity
    period_days: int = Field(ge=1, le=3660)


# --- programs, demand response and outages --------------------------------------------------------
class ProgramEnrolled(Payload):
    """The customer joined a program (e.g. Peak Time Rewards): cohort audiences select by it."""

    program: Label


class ProgramUnenrolled(Payload):
    program: Label


SignalLevel = Annotated[
    float,
    Field(ge=0, le=1e6, allow_inf_nan=False, description="OpenADR SIMPLE signal level (0 normal to 3)."),
]
Kilowatts = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
# An event names at most this many premises; a larger outage names its transformers or feeders.
MAX_NAMED_PREMISES = 10_000
PremiseIds = Annotated[list[Label], Field(max_length=MAX_NAMED_PREMISES)]
GridIds = Annotated[list[Label], Field(max_length=1_000)]


# What the door admits of a DR event's period (the admission context: stored events fold unchecked).
# The DR target and report work per event hour and member (dr/target.py): a window of years would
# exhaust the worker's memory, and a start centuries ahead is a typo.
MAX_DR_EVENT_DURATION = timedelta(days=7)
MAX_DR_EVENT_LEAD = timedelta(days=366)


class DrEventWindow(Payload):
    """The active period of a demand-response event: it must end after it starts, and an event
    arriving through the API must not have ended already, last more than MAX_DR_EVENT_DURATION or
    start more than MAX_DR_EVENT_LEAD ahead."""

    dr_event_id: Label
    start: Timestamp
    end: Timestamp
    signal_level: SignalLevel | None = None
    target_kw: Kilowatts | None = Field(None, description="The load reduction the event aims at (kW).")

    @field_validator("start")
    @classmethod
    def _lead(cls, start: datetime, info: ValidationInfo) -> datetime:
        door = admission(info)
        if door is not None and start > door.now + MAX_DR_EVENT_LEAD:
            raise ValueError(f"lies more than {MAX_DR_EVENT_LEAD.days} days ahead")
        return start

    # On `end` (validated after `start`), so that a refusal names payload.end.
    @field_validator("end")
    @classmethod
    def _period(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be after `start`")
        door = admission(info)
        if door is not None and end <= door.now:
            raise ValueError("the event has ended already (`end` is in the past)")
        if door is not None and start is not None and end - start > MAX_DR_EVENT_DURATION:
            raise ValueError(f"the event would last more than {MAX_DR_EVENT_DURATION.days} days")
        return end


class DrEventScheduled(DrEventWindow):
    program: Label
    modification_number: Count = 0


class DrEventModified(DrEventWindow):
    """The VTN (or the program manager) changed a scheduled event: new period, level or target."""

    modification_number: int = Field(ge=1, le=INT32_MAX)


class DrEventCancelled(Payload):
    dr_event_id: Label
    reason: Text | None = None


class OutageScope(Payload):
    """Where an outage is: its premises, or the transformers or feeders that serve them. `premise_id`
    and `feeder` are the single-value forms of the first version of this event."""

    incident_id: Label
    premise_ids: PremiseIds = Field(default_factory=list)
    transformer_ids: GridIds = Field(default_factory=list)
    feeder_ids: GridIds = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_values(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not ({"premise_id", "feeder"} & value.keys()):
            return value
        value = dict(value)
        premise, feeder = value.pop("premise_id", None), value.pop("feeder", None)
        for single, field in ((premise, "premise_ids"), (feeder, "feeder_ids")):
            listed = value.get(field, [])
            # Anything but a list in the plural field is refused by the model, naming that field.
            if single is not None and isinstance(listed, list):
                value[field] = [*listed, single]
        return value

    @property
    def named(self) -> bool:
        return bool(self.premise_ids or self.transformer_ids or self.feeder_ids)


class OutageDetected(OutageScope):
    cause: Text | None = None
    etr: Timestamp | None = Field(None, description="Estimated time of restoration.")

    @model_validator(mode="after")
    def _scope(self) -> OutageDetected:
        if not self.named:
            # Located at premise_ids (a model validator's error names no field otherwise), so that
            # a refusal names payload.premise_ids.
            reason = "name the outage's premise_ids, transformer_ids or feeder_ids: none is given"
            detail = InitErrorDetails(
                type=PydanticCustomError("outage_scope", reason), loc=("premise_ids",), input=[]
            )
            raise ValidationError.from_exception_data(type(self).__name__, [detail])
        return self


class OutageEtrUpdated(Payload):
    incident_id: Label
    etr: Timestamp


class OutageRestored(OutageScope):
    """Power is back: for the premises, transformers or feeders named, or, naming none, for the
    whole incident."""

    restored_at: Timestamp


class OutageReported(Payload):
    """A customer says they have no power (e.g. replied OUT to a restoration notice)."""

    incident_id: Label | None = None
    premise_id: Label | None = None
    channel: Channel | None = None


# --- the engine's own events ---------------------------------------------------------------------
JourneyVersionNumber = Field(ge=1, le=INT32_MAX)


class JourneyEntered(Payload):
    journey_id: Label
    version: int = JourneyVersionNumber
    instance_id: LongLabel
    holdout: bool
    trigger_event_id: Label | None = None


class JourneyStepCompleted(Payload):
    journey_id: Label
    version: int = JourneyVersionNumber
    instance_id: LongLabel
    step_id: Label
    kind: Label
    outcome: Text | None = None
    next_step: Label | None = Field(None, description="The step the journey goes on to (None: it ends).")


class JourneyExited(Payload):
    journey_id: Label
    version: int = JourneyVersionNumber
    instance_id: LongLabel
    reason: Text


class JourneyConverted(Payload):
    journey_id: Label
    version: int = JourneyVersionNumber
    instance_id: LongLabel
    goal_event: Label
    goal_event_id: Label | None = None


class MessageBase(Payload):
    idempotency_key: LongLabel
    journey_id: Label | None = None
    instance_id: LongLabel | None = None
    step_id: Label | None = None
    template: Label | None = None
    channel: Channel | None = None
    locale: Locale | None = None


class MessageSent(MessageBase):
    provider_message_id: Label | None = None
    segments: int | None = Field(None, ge=0, le=10_000)


class MessageSuppressed(MessageBase):
    reason: Text


class MessageDelivered(MessageBase):
    provider_message_id: Label | None = None


class MessageFailed(MessageBase):
    reason: Text
    error_code: Label | None = Field(None, description="The provider's error code, when it gave one.")
    provider_message_id: Label | None = Field(None, description="Set when the provider reported the failure.")


class MessageDeferred(MessageBase):
    """Quiet hours: the message waits on a durable timer until `until`, then eligibility is checked
    again (consent may have changed meanwhile)."""

    until: Timestamp
    time_zone: TimeZone = Field(description="The zone the quiet hours were judged in.")
    reason: Text


class MessageUndelivered(MessageBase):
    provider_message_id: Label | None = None
    error_code: Label | None = None
    reason: Text | None = None


class MessageBounced(MessageBase):
    provider_message_id: Label | None = None
    bounce_type: Literal["hard", "soft", "blocked"] = "hard"
    reason: Text | None = None


class MessageDropped(MessageBase):
    provider_message_id: Label | None = None
    reason: Text | None = None


class MessageSpamReported(MessageBase):
    provider_message_id: Label | None = None


class MessageOpened(MessageBase):
    provider_message_id: Label | None = None


class MessageClicked(MessageBase):
    provider_message_id: Label | None = None
    url: Text | None = None


class MessageReceived(Payload):
    """An inbound message that is not a keyword the engine acts on (STOP, START, HELP): journeys may
    `wait_for` it, e.g. a reply "OUT" after a restoration notice."""

    channel: Channel = "sms"
    body: Text = Field(description="The text as received (personal: sealed with the customer's key).")
    keyword: Label | None = Field(None, description="The first word, upper-cased: what journeys match on.")
    provider_message_id: Label | None = None


Address = Annotated[str, Field(min_length=1, max_length=1_000), NoNul]


class SuppressionAdded(Payload):
    channel: Channel
    address: Address = Field(description="E.164 phone, email address or push endpoint (sealed).")
    reason: Label = Field(description="invalid_number, hard_bounce, spam_report, carrier_opt_out, ...")
    source: Label | None = Field(None, description="twilio, sendgrid, push, admin, ...")


class SuppressionRemoved(Payload):
    channel: Channel
    address: Address
    reason: Text | None = None


class PushSubscribed(Payload):
    endpoint: Annotated[str, Field(min_length=1, max_length=1_000, pattern=r"^https?://"), NoNul]
    p256dh: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")]
    auth: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_=-]+$")]


class PushUnsubscribed(Payload):
    endpoint: Annotated[str, Field(min_length=1, max_length=1_000), NoNul]
    reason: Text | None = None


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
    "program.enrolled": ProgramEnrolled,
    "program.unenrolled": ProgramUnenrolled,
    "dr.event_scheduled": DrEventScheduled,
    "dr.event_modified": DrEventModified,
    "dr.event_cancelled": DrEventCancelled,
    "outage.detected": OutageDetected,
    "outage.etr_updated": OutageEtrUpdated,
    "outage.restored": OutageRestored,
    "outage.reported": OutageReported,
    "journey.entered": JourneyEntered,
    "journey.step_completed": JourneyStepCompleted,
    "journey.exited": JourneyExited,
    "journey.converted": JourneyConverted,
    "message.sent": MessageSent,
    "message.suppressed": MessageSuppressed,
    "message.delivered": MessageDelivered,
    "message.failed": MessageFailed,
    "message.deferred": MessageDeferred,
    "message.undelivered": MessageUndelivered,
    "message.bounced": MessageBounced,
    "message.dropped": MessageDropped,
    "message.spam_reported": MessageSpamReported,
    "message.opened": MessageOpened,
    "message.clicked": MessageClicked,
    "message.received": MessageReceived,
    "suppression.added": SuppressionAdded,
    "suppression.removed": SuppressionRemoved,
    "push.subscribed": PushSubscribed,
    "push.unsubscribed": PushUnsubscribed,
    "customer.erased": CustomerErased,
}

# Events only the engine itself may append (the API refuses them from integrations).
ENGINE_EVENT_PREFIXES = ("journey.", "message.", "customer.erased", "suppression.", "push.")
# Events about one customer: they must name it (customer_id is required).
CUSTOMER_EVENT_PREFIXES = (
    "customer.",
    "consent.",
    "bill.",
    "meter.",
    "usage.",
    "suppression.",
    "push.",
    "program.",
    "outage.reported",
)


class UnknownEventType(ValueError):
    def __init__(self, event_type: str) -> None:
        known = ", ".join(sorted(known_event_types()))
        super().__init__(
            f"unknown event type {event_type!r}; known types: {known} (declare new types in events/*.yaml)"
        )
        self.event_type = event_type


def known_event_types() -> dict[str, type[Payload]]:
    """The built-in types and those declared in events/*.yaml (events/declared.py, read once)."""
    from gridjourney.events.declared import declared_events  # reads files: never at import

    return {**EVENT_TYPES, **declared_events().models}


def payload_model(event_type: str) -> type[Payload]:
    found = EVENT_TYPES.get(event_type) or known_event_types().get(event_type)
    if found is None:
        raise UnknownEventType(event_type)
    return found


def is_about_a_customer(event_type: str) -> bool:
    """Whether events of this type must name their customer (customer_id is required)."""
    if event_type.startswith(CUSTOMER_EVENT_PREFIXES):
        return True
    if event_type in EVENT_TYPES:
        return False
    from gridjourney.events.declared import declared_events

    return event_type in declared_events().about_customer


def validate_payload(
    event_type: str, payload: dict[str, Any], context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The payload as stored: validated, defaults filled, JSON-ready. Raises UnknownEventType or
    pydantic.ValidationError (whose locations name the payload field). `context` may carry the
    door's Admission (events/fields.py)."""
    model = payload_model(event_type)
    return model.model_validate(payload, context=context).model_dump(mode="json")


__all__ = [
    "CUSTOMER_EVENT_PREFIXES",
    "EVENT_TYPES",
    "UnknownEventType",
    "ValidationError",
    "is_about_a_customer",
    "known_event_types",
    "payload_model",
    "validate_payload",
]
