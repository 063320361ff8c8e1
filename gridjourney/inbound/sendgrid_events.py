"""SendGrid's Event Webhook: a signed batch of rows about the emails we sent, turned into events.

A request is accepted only when its ECDSA signature verifies (with the client library's helper) over
the timestamp header and the raw body, the timestamp is recent (settings.webhook_max_age), and its
timestamp and body were never accepted before (`webhook_receipts`, written in the same transaction as the
events, so a request that failed to record can be delivered again). Rows carry our custom_args
(gridjourney/channels/email.py): the idempotency key and the customer. Each row becomes one message.*
event whose id derives from SendGrid's `sg_event_id`, so a batch sent twice records nothing new; a
hard bounce or a spam report also suppresses the address. Rows that are not about our messages (no
key), or of kinds the engine does not track (processed, deferred, ...), are skipped.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.channels.email import CUSTOMER_ARG, KEY_ARG
from gridjourney.events.models import NewEvent
from gridjourney.events.store import CustomerErased, EventStore
from gridjourney.events.types import validate_payload
from gridjourney.inbound.queries import first_receipt
from gridjourney.inbound.sendgrid_keys import SIGNATURE_HEADER, TIMESTAMP_HEADER
from gridjourney.projections.queries import get_customer
from gridjourney.projections.suppressions import suppression_added

log = logging.getLogger(__name__)

PROVIDER = "sendgrid"
SOURCE = "sendgrid"
# uuid5 namespace of the events rows become: one id per SendGrid event (and one for its suppression).
EVENT_NAMESPACE = uuid.UUID("8c2e4f1a-6b3d-4a9e-b5c7-0d1f2e3a4b5c")
EVENT_TYPES = {
    "delivered": "message.delivered",
    "bounce": "message.bounced",
    "dropped": "message.dropped",
    "spamreport": "message.spam_reported",
    "open": "message.opened",
    "click": "message.clicked",
}
MAX_LABEL = 100
MAX_TEXT = 2_000


class WebhookRefused(Exception):
    """The request is not provably SendGrid's, or was accepted before. `header` names what is wrong."""

    def __init__(self, reason: str, header: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header


class VerificationKeyInvalid(ValueError):
    """The configured public key is not an ECDSA key: nothing can be verified until it is fixed."""


class IngestResult(BaseModel):
    recorded: int
    duplicates: int
    skipped: int


def verify(
    public_key: str,
    payload: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Raises WebhookRefused unless `payload` is signed by the key's owner within `max_age` of now."""
    if not signature or not timestamp:
        missing = SIGNATURE_HEADER if not signature else TIMESTAMP_HEADER
        raise WebhookRefused("the request is not signed", missing)
    try:
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRefused("the timestamp is not a Unix time in seconds", TIMESTAMP_HEADER) from None
    if abs(now - signed_at) > max_age:
        raise WebhookRefused(
            f"signed at {signed_at.isoformat()}, more than {max_age} from now: refused as a replay",
            TIMESTAMP_HEADER,
        )
    try:
        verifier = EventWebhook(public_key)
    except ValueError as error:
        raise VerificationKeyInvalid(
            "GRIDJOURNEY_SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER ECDSA public key"
        ) from error
    try:
        valid = verifier.verify_signature(payload.decode("utf-8"), signature, timestamp)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise WebhookRefused("the signature does not match the body and timestamp", SIGNATURE_HEADER)


def receipt_id(timestamp: str, payload: bytes) -> str:
    """What `webhook_receipts` keeps of a request: a digest of what was signed, the timestamp and the
    raw body. Not of the signature header: its base64 decoding ignores stray characters, so one
    signature has many spellings that all verify."""
    return hashlib.sha256(timestamp.encode() + payload).hexdigest()


@dataclass(frozen=True)
class RowEvents:
    events: list[NewEvent]
    skipped: int


def events_from_rows(rows: Sequence[Any]) -> RowEvents:
    """The events the rows become; a row that is not ours or does not fit the schema is skipped."""
    new_events: list[NewEvent] = []
    skipped = 0
    for row in rows:
        made = _row_events(row) if isinstance(row, Mapping) else None
        if made is None:
            skipped += 1
        else:
            new_events.extend(made)
    return RowEvents(new_events, skipped)


def _row_events(row: Mapping[str, Any]) -> list[NewEvent] | None:
    event_type = EVENT_TYPES.get(str(row.get("event")))
    key, customer_id, sg_event_id = row.get(KEY_ARG), row.get(CUSTOMER_ARG), row.get("sg_event_id")
    if event_type is None or not isinstance(key, str) or not isinstance(customer_id, str) or not sg_event_id:
        return None
    payload: dict[str, Any] = {"idempotency_key": key, "channel": "email"}
    if message_id := row.get("sg_message_id"):
        # sg_message_id is the X-Message-Id the send was answered with, plus a per-recipient suffix.
        payload["provider_message_id"] = str(message_id).split(".")[0][:MAX_LABEL]
    row_kind = str(row.get("type", "bounce"))
    if event_type == "message.bounced":
        payload["bounce_type"] = "blocked" if row_kind == "blocked" else "hard"
    if event_type in ("message.bounced", "message.dropped") and row.get("reason"):
        payload["reason"] = str(row["reason"])[:MAX_TEXT]
    if event_type == "message.clicked" and row.get("url"):
        payload["url"] = str(row["url"])[:MAX_TEXT]
    try:
        occurred_at = datetime.fromtimestamp(int(row.get("timestamp", "")), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        # The event's time is part of its content: a time made up here would differ on a retry and
        # turn the retry into a conflict. SendGrid always sends one; a row without it is not SendGrid's.
        return None
    try:
        made = [
            NewEvent(
                event_id=uuid.uuid5(EVENT_NAMESPACE, str(sg_event_id)),
                type=event_type,
                customer_id=customer_id,
                occurred_at=occurred_at,
                source=SOURCE,
                payload=validate_payload(event_type, payload),
            )
        ]
        reason = _suppression_reason(event_type, row_kind)
        address = row.get("email")
        if reason is not None and isinstance(address, str) and address:
            made.append(
                suppression_added(
                    customer_id,
                    "email",
                    address,
                    reason,
                    SOURCE,
                    uuid.uuid5(EVENT_NAMESPACE, f"{sg_event_id}:suppression"),
                    occurred_at,
                )
            )
    except ValidationError as error:
        log.warning(
            "SendGrid event %s skipped: it does not fit (%d problems)", event_type, error.error_count()
        )
        return None
    return made


def _suppression_reason(event_type: str, row_kind: str) -> str | None:
    if event_type == "message.spam_reported":
        return "spam_report"
    if event_type == "message.bounced" and row_kind != "blocked":
        return "hard_bounce"  # a block is about our reputation, not the address
    return None


async def _as_customers_address(conn: AsyncConnection, event: NewEvent) -> NewEvent:
    """A suppression names the address as the customer record spells it: SendGrid may report it in
    other letter case, and the suppression list is matched exactly against the customer's address."""
    if event.type != "suppression.added" or event.customer_id is None:
        return event
    customer = await get_customer(conn, event.customer_id)
    reported = str(event.payload["address"])
    if customer is None or customer.email is None or customer.email.lower() != reported.lower():
        return event
    return event.model_copy(update={"payload": {**event.payload, "address": customer.email}})


async def ingest(store: EventStore, receipt: str, new_events: list[NewEvent], skipped: int) -> IngestResult:
    """Record the receipt (see receipt_id) and the events in one transaction. Raises WebhookRefused
    for a replay. Events about an erased customer are dropped: nothing more is recorded about them."""
    async with store.engine.begin() as conn:
        if not await first_receipt(conn, PROVIDER, receipt):
            raise WebhookRefused(
                "this signed request was accepted before: refused as a replay", SIGNATURE_HEADER
            )
        pending = [await _as_customers_address(conn, event) for event in new_events]
        while True:
            try:
                results = await store.append_in(conn, pending)
                break
            except CustomerErased as erased:
                # Raised before anything is written: the rest of the batch is still recorded.
                kept = [event for event in pending if event.customer_id != erased.customer_id]
                skipped += len(pending) - len(kept)
                pending = kept
    duplicates = sum(1 for result in results if result.duplicate)
    return IngestResult(recorded=len(results) - duplicates, duplicates=duplicates, skipped=skipped)
