"""The events a send records (message.sent/suppressed/failed/deferred), under ids derived from the
idempotency key: every attempt of one send writes the same event ids, so the log holds one outcome."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from gridjourney.activities.ledger import LedgerRow
from gridjourney.events.models import NewEvent, StoredEvent, engine_event
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

SOURCE = "gridjourney.send"
OPERATOR_SOURCE = "gridjourney.operator"
OUTCOME_TYPES = {"sent": "message.sent", "suppressed": "message.suppressed", "failed": "message.failed"}
# Fixed namespace: message event ids are uuid5(namespace, key + type), the same on every attempt.
MESSAGE_EVENT_NAMESPACE = uuid.UUID("5b0f1c4e-6a43-4d55-9a51-2f0c8f3e7d21")


# uuid5's SHA-1 with the namespace already fed in: copied per id, not the namespace's bytes rebuilt
# from its int and hashed again each time.
_NAMESPACE_SHA1 = hashlib.sha1(MESSAGE_EVENT_NAMESPACE.bytes, usedforsecurity=False)


def message_event_id(idempotency_key: str, event_type: str) -> uuid.UUID:
    """`uuid.uuid5(MESSAGE_EVENT_NAMESPACE, f"{idempotency_key}#{event_type}")`."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(f"{idempotency_key}#{event_type}".encode())
    return uuid.UUID(bytes=digest.digest()[:16], version=5)


def message_payload(request: SendMessageInput, channel: str | None, locale: str | None) -> dict[str, Any]:
    return {
        "idempotency_key": request.idempotency_key,
        "journey_id": request.journey_id,
        "instance_id": request.instance_id,
        "step_id": request.step_id,
        "template": request.template,
        "channel": channel,
        "locale": locale,
    }


def outcome_event(
    request: SendMessageInput,
    outcome: SendOutcome,
    *,
    locale: str | None = None,
    segments: int | None = None,
    error_code: str | None = None,
    source: str = SOURCE,
) -> NewEvent:
    event_type = OUTCOME_TYPES[outcome.status]
    payload = message_payload(request, outcome.channel, locale)
    if outcome.status == "sent":
        payload |= {"provider_message_id": outcome.provider_message_id, "segments": segments}
    else:
        payload["reason"] = outcome.reason
    if error_code is not None:
        payload["error_code"] = error_code
    return engine_event(
        event_id=message_event_id(request.idempotency_key, event_type),
        event_type=event_type,
        customer_id=request.customer_id,
        occurred_at=datetime.now(UTC),
        source=source,
        payload=payload,
    )


def deferred_event(request: SendMessageInput, until: datetime, time_zone: str, reason: str) -> NewEvent:
    # One event per deferral: a message may be deferred again after its timer (a DST change, a cap).
    event_id = uuid.uuid5(
        MESSAGE_EVENT_NAMESPACE, f"{request.idempotency_key}#message.deferred#{until.isoformat()}"
    )
    payload = message_payload(request, None, None) | {
        "until": until.isoformat(),
        "time_zone": time_zone,
        "reason": reason,
    }
    return engine_event(
        event_id=event_id,
        event_type="message.deferred",
        customer_id=request.customer_id,
        occurred_at=datetime.now(UTC),
        source=SOURCE,
        payload=payload,
    )


def suppression_event_id(idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(MESSAGE_EVENT_NAMESPACE, f"{idempotency_key}#suppression.added")


def outcome_from_event(status: str, event: StoredEvent) -> SendOutcome:
    payload = event.payload
    return SendOutcome.model_validate(
        {
            "status": status,
            "channel": payload.get("channel"),
            "reason": payload.get("reason"),
            "provider_message_id": payload.get("provider_message_id"),
        }
    )


def outcome_from_ledger(row: LedgerRow) -> SendOutcome:
    """A completed row's outcome (a send handled before: nothing is sent again)."""
    return SendOutcome.model_validate(
        {
            "status": row.status,
            "channel": row.channel,
            "provider_message_id": row.provider_message_id,
            "duplicate": True,
        }
    )
