"""Every table of gridjourney, in one SQLAlchemy Core metadata (Alembic's target)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

# The event log: append-only; `position` is global and gap-free in commit order (see events/store.py).
events = Table(
    "events",
    metadata,
    Column("position", BigInteger, Identity(always=False), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("customer_id", String(100)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("source", String(100), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("schema_version", Integer, nullable=False, server_default="1"),
    # A digest of the content (events/fingerprint.py): a reused event_id with other content is a conflict.
    Column("fingerprint", String(64)),
    # The W3C traceparent of the span that appended it, when tracing is on (observability/tracing.py).
    Column("traceparent", String(55)),
    Index("ix_events_customer_position", "customer_id", "position"),
    Index("ix_events_type_position", "type", "position"),
)

# One row per subscription: the position of the last event it has fully handled.
subscription_checkpoints = Table(
    "subscription_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Events a subscription could not handle, set aside so that one event never stops the others.
# Replayed by `gridjourney subscriptions retry NAME`; a row is deleted once its retry succeeds.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("subscription", String(100), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("subscription", "position"),
)

# One data key per customer, for the personal fields of their events (crypto-shredding): erasure
# destroys the key, which makes those fields unreadable everywhere without rewriting the log.
customer_keys = Table(
    "customer_keys",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("wrapping_key_id", String(40)),  # the settings key that wraps it (rotation); null once erased
    Column("wrapped_key", LargeBinary),  # null once erased
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("erased_at", DateTime(timezone=True)),
)

# Published journey versions: immutable; a run pins (journey_id, version).
journey_versions = Table(
    "journey_versions",
    metadata,
    Column("journey_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source_yaml", Text, nullable=False),
    Column("compiled", JSONB, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("journey_id", "version"),
    UniqueConstraint("journey_id", "content_hash"),
)

# The template sources journey versions pinned when they were published, stored once by their sha256
# (over the UTF-8 text the templates' loader reads: content/pinned.py) however many versions send them.
template_sources = Table(
    "template_sources",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("source", Text, nullable=False),
)

# Each version's templates: path in the templates folder (`sms/en/high_bill_alert.j2`) → its source. A
# version's rows are written with it and never change; a version without rows (published before
# pinning, or without the template checks) renders from the templates folder.
journey_version_templates = Table(
    "journey_version_templates",
    metadata,
    Column("journey_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), ForeignKey("template_sources.sha256"), nullable=False),
    PrimaryKeyConstraint("journey_id", "version", "path"),
    ForeignKeyConstraint(
        ["journey_id", "version"], ["journey_versions.journey_id", "journey_versions.version"]
    ),
)

# A journey retired by a marketer: no new runs start on it (events, manual starts, schedule fires,
# cohort triggers) until it is reinstated, which deletes the row. Runs already going carry on. Kept
# apart from journey_versions (immutable) so that a new version of a retired journey stays retired.
journey_retirements = Table(
    "journey_retirements",
    metadata,
    Column("journey_id", String(100), primary_key=True),
    Column("retired_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("retired_by", Text, nullable=False),
)

# Exactly-once sends: a row is claimed before the provider call (see activities/send.py and
# activities/ledger.py for the statuses). `owner` is the token of the attempt that holds the row; only
# it may move the row on. `reserved_at` is when a channel was chosen: from then on the row counts
# against the customer's frequency caps (activities/eligibility.py).
# No index covers `status` (nor `owner`, the lease or the note), which every move changes: the moves
# are then heap-only (HOT) updates that write no index entry, in the room the fill factor leaves on
# each page. Reads by status (rows in doubt, `sends list`) go through `ix_send_ledger_open`, the open
# rows' keys: only the completion changes its predicate (migration 0007).
send_ledger = Table(
    "send_ledger",
    metadata,
    Column("idempotency_key", String(300), primary_key=True),
    Column("customer_id", String(100), nullable=False),
    Column("channel", String(20)),
    Column("status", String(20), nullable=False),
    Column("provider_message_id", String(100)),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    Column("owner", String(36)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("purpose", String(20)),
    Column("reserved_at", DateTime(timezone=True)),
    Column("journey_id", String(100)),
    Column("step_id", String(100)),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("note", Text),  # why the row is in doubt, or who resolved it
    Index("ix_send_ledger_customer_reserved", "customer_id", "reserved_at"),
    Index("ix_send_ledger_open", "idempotency_key", postgresql_where=text("completed_at IS NULL")),
    postgresql_with={"fillfactor": 60},
)

# Webhook requests already accepted (provider, a digest of the signed request): a replay is refused.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("provider", String(20), nullable=False),
    Column("receipt_id", String(128), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "receipt_id"),
)

# The router's own record of the journey instances it started, so that later events about a customer
# reach that customer's running instances as signals (the projections may lag behind the router).
routed_instances = Table(
    "routed_instances",
    metadata,
    Column("instance_id", String(300), primary_key=True),
    Column("journey_id", String(100), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("started_position", BigInteger, nullable=False),
    Column("closed", Boolean, nullable=False, server_default="false"),
    # When the trigger occurred: once_per_window slides from here (gridjourney/entry/enter.py).
    Column("entered_at", DateTime(timezone=True)),
    Index("ix_routed_instances_customer", "customer_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", ARRAY(String(50)), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),  # None: never
    Column("last_used_at", DateTime(timezone=True)),  # to the minute (api/auth.py)
    Column("rate_per_second", Float(precision=53)),  # POST /v1/events; None: the configured default
)

# The dev outbox channel: messages "sent" here are only recorded.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("channel", String(20), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Interval meter reads (metering/store.py): kept out of the event log; partitioned by month on
# read_at, the partitions created on demand by the loader. The primary key makes re-imports idempotent.
meter_reads = Table(
    "meter_reads",
    metadata,
    Column("customer_id", String(100), nullable=False),
    Column("meter_id", String(100), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),  # start of the interval
    Column("interval_seconds", Integer, nullable=False),
    Column("kwh", Float(53), nullable=False),  # negative = exported to the grid
    Column("quality", SmallInteger),  # ESPI ReadingQuality code, when the source gives one
    Column("source", String(100), nullable=False),
    Column("import_id", String(100)),
    PrimaryKeyConstraint("meter_id", "read_at", "interval_seconds"),
    Index("ix_meter_reads_customer_read_at", "customer_id", "read_at"),
    postgresql_partition_by="RANGE (read_at)",
)

# Daily mean outdoor temperature per weather station (weather/queries.py); hourly sources are reduced
# to daily means, `observations` says how many readings are behind each. Re-imports upsert in place.
weather_daily = Table(
    "weather_daily",
    metadata,
    Column("station_id", String(100), nullable=False),
    Column("date", Date, nullable=False),
    Column("temperature_c", Float(53), nullable=False),
    Column("observations", Integer, nullable=False),
    Column("source", String(100), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("station_id", "date"),
)

# --- Projections: folds over the event log, rebuildable (projections/). Each row notes the
# position of the last event applied to it.
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("name", String(200)),
    Column("phone", String(32), index=True),  # inbound SMS find their customer by it
    Column("email", String(320)),
    Column("locale", String(10), nullable=False, server_default="en"),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    # Where the customer is supplied: cohort audiences and outage rules select by these.
    Column("premise_id", String(100), index=True),
    Column("transformer_id", String(100), index=True),
    Column("feeder_id", String(100), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),  # customer.erased: personal fields are gone
    Column("last_position", BigInteger, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("customer_id", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(100)),
    Column("method", String(100)),  # how it was given or revoked: web, sms_stop, call, ...
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_position", BigInteger, nullable=False),
    PrimaryKeyConstraint("customer_id", "channel", "purpose"),
)

messages = Table(
    "messages",
    metadata,
    Column("idempotency_key", String(300), primary_key=True),
    # Nullable: a delivery report may name only the message, never the customer.
    Column("customer_id", String(100), index=True),
    Column("journey_id", String(100)),
    Column("instance_id", String(300)),
    Column("step_id", String(100)),
    Column("channel", String(20)),
    Column("template", String(100)),
    Column("locale", String(10)),
    # deferred | sent | suppressed | delivered | undelivered | bounced | dropped | failed | opened |
    # clicked | spam_reported (projections/messages.py)
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("deferred_until", DateTime(timezone=True)),  # status deferred: asked again then
    Column("provider_message_id", String(100)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # of the latest status change
    Column("last_position", BigInteger, nullable=False),
)

journey_instances = Table(
    "journey_instances",
    metadata,
    Column("instance_id", String(300), primary_key=True),
    Column("journey_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("customer_id", String(100), nullable=False, index=True),
    Column("status", String(20), nullable=False),  # active | completed | exited | converted
    Column("current_step", String(100)),
    Column("holdout", Boolean, nullable=False, server_default="false"),
    Column("steps_completed", Integer, nullable=False, server_default="0"),
    Column("exit_reason", Text),
    Column("converted_at", DateTime(timezone=True)),  # goal reached; the run may still be active
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Index("ix_journey_instances_journey", "journey_id", "entered_at"),
)

# Addresses that must not be sent to (suppression.added / suppression.removed): invalid numbers,
# hard bounces, spam reports, carrier opt-outs. Keyed by the address itself, so a customer who
# changes a bounced email address can be reached at the new one.
suppressions = Table(
    "suppressions",
    metadata,
    Column("customer_id", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("address", String(1000), nullable=False),  # E.164 phone, email address or push endpoint
    Column("reason", String(100), nullable=False),
    Column("source", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # suppression.removed keeps the row (with the position) so that a replayed add stays undone
    Column("removed_at", DateTime(timezone=True)),
    Column("last_position", BigInteger, nullable=False),
    PrimaryKeyConstraint("customer_id", "channel", "address"),
)

# Web Push subscriptions registered by customers' browsers (push.subscribed / push.unsubscribed).
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("endpoint_sha256", String(64), primary_key=True),
    Column("customer_id", String(100), nullable=False, index=True),
    Column("endpoint", String(1000), nullable=False),
    Column("p256dh", String(200), nullable=False),
    Column("auth", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_position", BigInteger, nullable=False),
)

# Program enrolments (program.enrolled / program.unenrolled): a DR event's audience.
customer_programs = Table(
    "customer_programs",
    metadata,
    Column("customer_id", String(100), nullable=False),
    Column("program", String(100), nullable=False),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("last_position", BigInteger, nullable=False),
    PrimaryKeyConstraint("customer_id", "program"),
    Index("ix_customer_programs_program", "program"),
)

# Power outage incidents (outage.*): where they are, whether power is back. Incidents about the same
# transformer or feeder within the dedup window share `canonical_incident_id` (gridjourney/incidents).
outages = Table(
    "outages",
    metadata,
    Column("incident_id", String(100), primary_key=True),
    Column("canonical_incident_id", String(100), nullable=False, index=True),
    Column("premise_ids", ARRAY(String(100)), nullable=False, server_default="{}"),
    Column("transformer_ids", ARRAY(String(100)), nullable=False, server_default="{}"),
    Column("feeder_ids", ARRAY(String(100)), nullable=False, server_default="{}"),
    Column("cause", Text),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("etr", DateTime(timezone=True)),
    # premises restored while the rest of the incident is still out
    Column("restored_premise_ids", ARRAY(String(100)), nullable=False, server_default="{}"),
    Column("restored_at", DateTime(timezone=True)),  # the whole incident
    Column("last_position", BigInteger, nullable=False),
    Index("ix_outages_premises", "premise_ids", postgresql_using="gin"),
    Index("ix_outages_transformers", "transformer_ids", postgresql_using="gin"),
    Index("ix_outages_feeders", "feeder_ids", postgresql_using="gin"),
)

# Demand-response events as last scheduled, modified or cancelled (dr.*).
dr_events = Table(
    "dr_events",
    metadata,
    Column("dr_event_id", String(100), primary_key=True),
    Column("program", String(100), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("signal_level", Float),
    Column("target_kw", Float),
    Column("modification_number", Integer, nullable=False, server_default="0"),
    Column("status", String(20), nullable=False),  # scheduled | cancelled
    Column("last_position", BigInteger, nullable=False),
)

PROJECTION_TABLES = (
    customers,
    consents,
    messages,
    journey_instances,
    suppressions,
    push_subscriptions,
    customer_programs,
    outages,
    dr_events,
)

# --- cohort runs (workflows/cohort.py): one run per triggering event, its members as rows ----------
# Not projections: written by the cohort activities, never rebuilt from the log.
cohort_runs = Table(
    "cohort_runs",
    metadata,
    Column("run_id", String(300), primary_key=True),  # the CohortWorkflow id
    Column("journey_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("cohort_key", String(200), nullable=False),  # e.g. the DR event id or the incident id
    Column("trigger_event_id", UUID(as_uuid=True), nullable=False),
    Column("status", String(20), nullable=False),  # resolving | running | completed | exited
    Column("members", Integer, nullable=False, server_default="0"),
    Column("holdout", Integer, nullable=False, server_default="0"),
    Column("target_kw", Float),
    Column("expected_kw", Float),  # the expected reduction of the treated members (target runs)
    Column("subject", JSONB, nullable=False, server_default="{}"),  # the event as last updated
    Column("exit_reason", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("journey_id", "cohort_key", name="uq_cohort_runs_journey_key"),
)

cohort_members = Table(
    "cohort_members",
    metadata,
    Column("run_id", String(300), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("member_no", Integer, nullable=False),  # 0..n-1: batches are ranges of it
    Column("premise_id", String(100)),
    Column("transformer_id", String(100)),
    Column("feeder_id", String(100)),
    Column("segment", String(100)),
    Column("holdout", Boolean, nullable=False, server_default="false"),
    Column("expected_kw", Float),  # DR: propensity x expected kW shed in the event window
    # Where the member is: the step and the track (a group that arrived there together) it waits at.
    # NULL step: finished (`left_reason` says why).
    Column("step_id", String(64)),
    Column("track", String(100)),
    Column("deferred_until", DateTime(timezone=True)),  # a send deferred by quiet hours
    Column("arm", String(64)),  # the split arm taken, for reports
    Column("left_reason", String(100)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "customer_id"),
    # Batches read member_no ranges of a run through this key, filtering the track; no index covers
    # step_id, track or the other columns a move changes, so moves are heap-only (HOT) updates, in
    # the room the fill factor leaves (migration 0008).
    UniqueConstraint("run_id", "member_no", name="uq_cohort_members_no"),
    postgresql_with={"fillfactor": 50},
)

# Each member's measured DR performance (dr/performance.py): read into the templates of the messages
# after a `dr_performance` step, and summed by the program manager's report.
dr_performance = Table(
    "dr_performance",
    metadata,
    Column("run_id", String(300), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("dr_event_id", String(100), nullable=False, index=True),
    Column("baseline_kwh", Float, nullable=False),  # the 10-of-10 like-day baseline over the window
    Column("actual_kwh", Float, nullable=False),
    Column("kwh_saved", Float, nullable=False),  # baseline - actual (negative: used more)
    Column("credit", Float, nullable=False),
    Column("responded", Boolean, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "customer_id"),
)

# Provider rate limits shared by every send worker (activities/rate_limit.py): a token bucket per
# channel, refilled from the elapsed time whenever tokens are taken.
rate_limit_buckets = Table(
    "rate_limit_buckets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The Temporal part of each erasure (privacy/temporal_erasures.py): written in the erasure's own
# transaction, pending (completed_at null) until the customer's workflow executions are deleted in
# Temporal; retried with backoff by the router's leader and `gridjourney privacy pending --retry`.
temporal_erasures = Table(
    "temporal_erasures",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),  # the last failed attempt's error (class and message: no personal data)
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),  # null: pending
    Column("workflows_deleted", Integer, nullable=False, server_default=text("0")),
)
