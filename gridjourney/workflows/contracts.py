"""What workflows, activities, the router and the API exchange: names, inputs, outputs, signals, queries.

Pure pydantic models (serialized by the pydantic data converter). Workflows call activities by the
names below, so they never import the activity modules (which do I/O).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridjourney.dsl.functions import Facts
from gridjourney.dsl.schema import Channel, CompiledJourney, Purpose

# Activity names (implemented in gridjourney/activities/).
LOAD_CONTEXT = "load_context"
RECORD_JOURNEY_EVENT = "record_journey_event"
RECORD_JOURNEY_EVENTS = "record_journey_events"
SCORE_CUSTOMER = "score_customer"
SEND_MESSAGE = "send_message"
RECORD_SEND_GIVEN_UP = "record_send_given_up"
UPDATE_CUSTOMER = "update_customer"

# Signal, query and search attribute names of JourneyWorkflow.
JOURNEY_EVENT_SIGNAL = "journey_event"
JOURNEY_STATE_QUERY = "state"
SEARCH_ATTRIBUTES = ("CustomerId", "JourneyId", "JourneyVersion")


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventRef(Contract):
    """An event as a journey sees it (trigger, wait_for match, goal, exit)."""

    event_id: str
    type: str
    customer_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]
    position: int

    def namespace(self) -> dict[str, Any]:
        """The event as expressions and templates see it: its payload plus `type` and `occurred_at`."""
        return {**self.payload, "type": self.type, "occurred_at": self.occurred_at.isoformat()}


class StepRecord(Contract):
    step_id: str
    kind: str
    outcome: str | None = None
    completed_at: datetime


class JourneyState(Contract):
    """Returned by the `state` query; also carried across continue-as-new."""

    status: Literal["active", "completed", "exited", "converted"] = "active"
    current_step: str | None = None
    waiting_for: str | None = Field(None, description="Event type awaited by a wait_for step.")
    waiting_until: datetime | None = None
    holdout: bool = False
    steps_taken: list[StepRecord] = Field(default_factory=list)
    converted: bool = False
    exit_reason: str | None = None
    entered_at: datetime | None = None
    journey_event_seq: int = Field(0, description="Counter for deterministic ids of recorded events.")
    step_visits: dict[str, int] = Field(
        default_factory=dict, description="Times each step was completed, for idempotency keys in loops."
    )
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="The `vars` of the split arms the run took (a later arm's replace an earlier one's): "
        "its messages read them as `vars.<name>`.",
    )
    waited_event: dict[str, Any] | None = Field(
        None,
        description="The event that ended the run's last wait_for (as EventRef.namespace gives it): "
        "its messages read it as `waited_event`.",
    )


class JourneyInput(Contract):
    journey: CompiledJourney
    customer_id: str
    trigger: EventRef
    send_task_queue: str = Field(description="Task queue of SEND_MESSAGE (rate-limited send workers).")
    resume: JourneyState | None = Field(None, description="Set when continuing as new.")
    pending_events: list[EventRef] = Field(
        default_factory=list,
        description="Signals received but not yet handled, carried over continue-as-new.",
    )
    seen_event_ids: list[str] = Field(
        default_factory=list,
        description="Ids of signals already received (the latest ones), so repeats are ignored.",
    )
    history_budget: int = Field(
        2000, ge=50, description="Continue as new once the run's history has this many events."
    )


# --- activity inputs and outputs ------------------------------------------------------------------
class HistoryQuery(Contract):
    """One had() of the journey (dsl/functions.py HistoryUse): the newest event of `event_type`
    within `within` before `as_of` for which `where` holds."""

    event_type: str
    within: timedelta
    where: str | None = None


class RecordJourneyEventInput(Contract):
    event_id: str = Field(
        description="Deterministic (uuid5 of instance id and sequence): retries are idempotent."
    )
    type: Literal["journey.entered", "journey.step_completed", "journey.exited", "journey.converted"]
    customer_id: str
    occurred_at: datetime
    payload: dict[str, Any]


class RecordJourneyEventsInput(Contract):
    """The run's journey events not yet recorded, appended together (before a wait and at the end)."""

    events: list[RecordJourneyEventInput]


class LoadContextInput(Contract):
    customer_id: str
    journey_events: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The run's journey events not yet recorded: appended (idempotently) before the work.",
    )
    # What the journey's had() and in_journey() read (empty for journeys without them).
    history: list[HistoryQuery] = Field(default_factory=list)
    journeys: list[str] = Field(default_factory=list)
    as_of: datetime | None = Field(None, description="had()'s moment: the workflow's now.")
    exclude_event_id: str | None = Field(
        None, description="The event that started the journey: it never counts in had()."
    )


class CustomerContext(Contract):
    """The customer as expressions (`customer.*`) and templates see it. No consent details here:
    eligibility is decided by the send activity against the projections at send time."""

    customer_id: str
    name: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    attributes: dict[str, Any] = Field(default_factory=dict)
    exists: bool = True
    local_zone: str | None = Field(
        None, description="local_date()'s zone: the customer's own, else the policy's default."
    )
    last_seen: dict[str, datetime] | None = Field(
        None, description="had()'s facts: history key -> the newest matching event's time (None: not asked)."
    )
    in_journeys: list[str] | None = Field(
        None, description="in_journey()'s facts: the asked journeys the customer is in (None: not asked)."
    )

    def facts(self, now: datetime) -> Facts:
        """What the date and history functions read at `now` (the workflow's)."""
        return Facts(
            now=now,
            zone=self.local_zone or self.time_zone,
            last_seen=self.last_seen,
            journeys=None if self.in_journeys is None else frozenset(self.in_journeys),
        )

    def namespace(self) -> dict[str, Any]:
        """`customer` as expressions and templates see it: the attributes, with the profile's own
        fields on top (a clash never hides the customer's id, name, language or zone)."""
        return {
            **self.attributes,
            "customer_id": self.customer_id,
            "name": self.name,
            "locale": self.locale,
            "time_zone": self.time_zone,
        }


class SendMessageInput(Contract):
    idempotency_key: str = Field(description="journey instance id + step id + customer id")
    customer_id: str
    journey_id: str
    journey_version: int
    instance_id: str
    step_id: str
    channels: list[Channel]
    template: str
    purpose: Purpose
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Template variables beyond the customer's: event, journey, and `vars` (split arms).",
    )
    sending_hours: list[str] | None = Field(
        None, description="The step's own sending hours (\"09:00-18:00\"), narrowing the policy's."
    )
    can_defer: bool = Field(
        False,
        description="The workflow waits out quiet hours itself (outcome `deferred`). Histories from "
        "before quiet hours send without it: then a message in quiet hours is suppressed instead.",
    )
    journey_events: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The run's journey events not yet recorded: appended (idempotently) before the work.",
    )
    with_context: LoadContextInput | None = Field(
        None,
        description="The run's first context load, done here (its journey_events stay empty): the "
        "outcome carries the context; an unknown customer is `suppressed: unknown_customer`, nothing "
        "sent or claimed.",
    )
    recorded_after: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The last step's journey.step_completed (its `outcome` left None: the send's "
        "SendOutcome.step_outcome fills it) and journey.exited, appended after a final outcome "
        "(not `deferred`); the outcome's recorded_after says so.",
    )


class SendOutcome(Contract):
    status: Literal["sent", "suppressed", "failed", "deferred"]
    channel: Channel | None = None
    reason: str | None = None
    provider_message_id: str | None = None
    duplicate: bool = Field(False, description="The key had been handled before: nothing was sent again.")
    deferred_until: datetime | None = Field(
        None, description="With `deferred`: the next allowed moment (UTC); ask again then."
    )
    context: CustomerContext | None = Field(None, description="Loaded when the input's with_context asked.")
    recorded_after: bool = Field(False, description="The input's recorded_after events are in the log.")

    @property
    def step_outcome(self) -> str:
        """As recorded in journey.step_completed: `sent:sms`, `suppressed:<reason>`, `failed:<code>`.
        A failure keeps only its code (`invalid_recipient`, `provider_refused`, `template_error`): the
        words after it are the provider's or the template's, may quote the address (Twilio's do), and
        belong in message.failed, whose reason is sealed; a journey event's payload is not."""
        detail = self.channel if self.status == "sent" else self.reason
        if self.status == "failed" and detail:
            detail = detail.split(":", 1)[0]
        return f"{self.status}:{detail}" if detail else self.status


def with_step_outcome(events: list[RecordJourneyEventInput], outcome: str) -> list[RecordJourneyEventInput]:
    """`events` (a SendMessageInput's recorded_after) with the step's outcome filled in."""
    return [
        event.model_copy(update={"payload": {**event.payload, "outcome": outcome}})
        if event.type == "journey.step_completed"
        else event
        for event in events
    ]


class SendGivenUpInput(Contract):
    """The workflow stopped retrying a send (its retry policy ran out): record `message.failed`
    with the reason and complete the ledger row."""

    request: SendMessageInput
    reason: str


class UpdateCustomerInput(Contract):
    event_id: str
    customer_id: str
    attribute: str
    value: Any
    occurred_at: datetime
    journey_events: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The run's journey events not yet recorded: appended (idempotently) before the work.",
    )
    recorded_after: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The last step's journey.step_completed and journey.exited, appended after the update.",
    )


class ScoreCustomerInput(Contract):
    """A `score` step: refresh `customer.scores.<score>` with the named saved model."""

    event_id: str = Field(description="Of the customer.updated it appends; deterministic, like updates'.")
    customer_id: str
    score: str = Field(description="The journey-facing score name, e.g. dr_propensity (the attribute key).")
    model: str = Field(description="The saved model that computes it, e.g. dr_enrolment.")
    version: int | None = Field(None, description="The model version; None: the latest.")
    max_age: timedelta | None = Field(None, description="A score refreshed less long ago is kept.")
    occurred_at: datetime
    journey_events: list[RecordJourneyEventInput] = Field(
        default_factory=list,
        description="The run's journey events not yet recorded: appended (idempotently) before the work.",
    )


class ScoreOutcome(Contract):
    status: Literal["scored", "fresh", "skipped"] = Field(
        description="scored: a new score was written; fresh: the current one is younger than max_age; "
        "skipped: no score (no model, too little data, unknown customer), see `reason`."
    )
    score: str
    value: float | None = Field(None, description="The score now on the customer (None when skipped).")
    updated_at: datetime | None = Field(None, description="When that score was computed.")
    model_version: int | None = None
    reason: str | None = None

    @property
    def outcome(self) -> str:
        """As recorded in journey.step_completed: `scored:0.734`, `fresh:0.612`, `skipped:<reason>`."""
        if self.status == "skipped":
            return f"skipped:{self.reason}"
        return f"{self.status}:{self.value:.3f}" if self.value is not None else self.status
