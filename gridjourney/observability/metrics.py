"""The process's Prometheus metrics, counted where the engine records what happened.

Everything a journey does ends up as an event in the log (events/store.py), so the counters of events,
journeys, eligibility decisions and messages are all counted at one place: the store's append, from
the rows it has just written (`count_appended`). A batch costs one dict pass and one increment per
distinct label set, never a query. The gauges that describe the database (subscription lag, ledger
rows in doubt, dead letters) are read from Postgres when Prometheus scrapes (observability/database.py).
"""

from __future__ import annotations

import re
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

# The text format shows each counter's creation time as a gauge family of its own (`..._created`):
# a series per label set that no dashboard or alert reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

EVENTS_APPENDED = Counter(
    "gridjourney_events_appended", "Events written to the log, by type (duplicates not counted).", ["type"]
)
JOURNEYS_STARTED = Counter(
    "gridjourney_journeys_started",
    "Journey instances entered, by journey and holdout.",
    ["journey", "holdout"],
)
JOURNEYS_EXITED = Counter(
    "gridjourney_journeys_exited", "Journey instances that exited, by journey.", ["journey"]
)
JOURNEYS_CONVERTED = Counter(
    "gridjourney_journeys_converted", "Journey instances that reached their goal, by journey.", ["journey"]
)
ELIGIBILITY_DECISIONS = Counter(
    "gridjourney_eligibility_decisions",
    "Send decisions by outcome (sent, suppressed, deferred) and reason code; a refusal naming several "
    "codes (one per channel tried) counts once under each.",
    ["outcome", "reason"],
)
MESSAGES = Counter(
    "gridjourney_messages",
    "Message events by channel and status (sent, suppressed, delivered, ...).",
    ["channel", "status"],
)
PROVIDER_CALL_SECONDS = Histogram(
    "gridjourney_provider_call_seconds",
    "Provider HTTP calls (Twilio, SendGrid, Web Push), by provider (twilio, sendgrid, webpush) and outcome.",
    ["provider", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# "sms: consent_revoked; email: frequency_cap (2 marketing email in 7d)" -> consent_revoked, frequency_cap
_REASON_CODE = re.compile(r"(?:^|;\s*)(?:[a-z]+:\s*)?([a-z][a-z_]{1,40})")


def reason_codes(reason: str | None) -> set[str]:
    """The stable snake_case codes of a send's recorded reason (activities/eligibility.py)."""
    return set(_REASON_CODE.findall(reason or "")) or {"unknown"}


def count_appended(rows: Iterable[Mapping[str, Any]]) -> None:
    """Count rows just written to the log (`type` and the plain `payload` of each)."""
    types: Tally[str] = Tally()
    started: Tally[tuple[str, str]] = Tally()
    exited: Tally[str] = Tally()
    converted: Tally[str] = Tally()
    decisions: Tally[tuple[str, str]] = Tally()
    messages: Tally[tuple[str, str]] = Tally()
    for row in rows:
        event_type: str = row["type"]
        types[event_type] += 1
        if event_type.startswith("journey."):
            payload = row["payload"]
            journey = str(payload.get("journey_id"))
            if event_type == "journey.entered":
                started[journey, "true" if payload.get("holdout") else "false"] += 1
            elif event_type == "journey.exited":
                exited[journey] += 1
            elif event_type == "journey.converted":
                converted[journey] += 1
        elif event_type.startswith("message.") and event_type != "message.received":
            payload = row["payload"]
            messages[str(payload.get("channel") or "none"), event_type.removeprefix("message.")] += 1
            if event_type == "message.sent":
                decisions["sent", "eligible"] += 1
            elif event_type == "message.deferred":  # its reason lists the channels, not why: quiet hours
                decisions["deferred", "quiet_hours"] += 1
            elif event_type == "message.suppressed":
                for code in reason_codes(payload.get("reason")):
                    decisions["suppressed", code] += 1
    for event_type, n in types.items():
        EVENTS_APPENDED.labels(event_type).inc(n)
    for (journey, holdout), n in started.items():
        JOURNEYS_STARTED.labels(journey, holdout).inc(n)
    for journey, n in exited.items():
        JOURNEYS_EXITED.labels(journey).inc(n)
    for journey, n in converted.items():
        JOURNEYS_CONVERTED.labels(journey).inc(n)
    for (outcome, code), n in decisions.items():
        ELIGIBILITY_DECISIONS.labels(outcome, code).inc(n)
    for (channel, status), n in messages.items():
        MESSAGES.labels(channel, status).inc(n)
