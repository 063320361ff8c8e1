"""Twilio's status callbacks as `message.delivered | undelivered | failed` events.

The send activity sets the callback URL with the message's idempotency key in it
(`/webhooks/twilio/status?key=...`, signed by Twilio with the rest of the URL), so the report finds
what the send recorded: the customer from the send ledger, the journey, step, template and locale
from the messages projection. Intermediate statuses (queued, sent, ...) are not recorded. Error codes
that say the number cannot take SMS put it on the suppression list. Event ids derive from the
MessageSid and the status, and a receipt row is written with them: a retried callback records nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from gridjourney.events.models import NewEvent
from gridjourney.events.store import CustomerErased, EventStore
from gridjourney.inbound.queries import first_receipt
from gridjourney.projections import queries
from gridjourney.projections.suppressions import suppression_added

log = logging.getLogger(__name__)

SOURCE = "twilio"
STATUS_EVENT_TYPES = {
    "delivered": "message.delivered",
    "undelivered": "message.undelivered",
    "failed": "message.failed",
}
# Twilio error codes after which the number is suppressed, with the suppression's reason
# (https://www.twilio.com/docs/api/errors).
SUPPRESSING_ERRORS = {
    "30003": "unreachable",  # unreachable destination handset
    "30005": "unknown_number",  # unknown destination handset: the number does not exist
    "30006": "landline",  # landline or unreachable carrier
    "21610": "carrier_opt_out",  # the recipient replied STOP to the carrier
}
# Fixed: the ids of a report's events are the same on every delivery of it.
STATUS_EVENT_NAMESPACE = uuid.UUID("8d5a0e27-4c19-4b6f-a3e2-5f7c1d9b2a64")


@dataclass(frozen=True)
class StatusReport:
    idempotency_key: str
    message_sid: str
    status: str  # Twilio's MessageStatus, lower case
    error_code: str | None
    to_number: str | None  # E.164, as Twilio reports it


@dataclass(frozen=True)
class StatusOutcome:
    event_type: str | None  # None: a status that is not recorded (queued, sent, ...)
    recorded: bool  # False also for a retry of a report already recorded
    suppressed: str | None  # the suppression reason added, if any


def status_event_id(message_sid: str, status: str, what: str = "message") -> uuid.UUID:
    return uuid.uuid5(STATUS_EVENT_NAMESPACE, f"{message_sid}#{status}#{what}")


def reason_of(status: str, error_code: str | None) -> str:
    code = f"error {error_code}" if error_code else "no error code"
    known = SUPPRESSING_ERRORS.get(error_code or "")
    return f"twilio {status} ({code}{': ' + known.replace('_', ' ') if known else ''})"


def described(
    report: StatusReport, sent: ledger.LedgerRow | None, message: queries.MessageView | None
) -> dict[str, Any]:
    """The report's MessageBase fields: what the send recorded (the projection, else the ledger)."""
    fields: dict[str, Any] = {
        "idempotency_key": report.idempotency_key,
        "channel": "sms",
        "provider_message_id": report.message_sid,
    }
    if sent is not None:
        fields |= {"journey_id": sent.journey_id, "step_id": sent.step_id}
    if message is not None:
        descriptive = ("journey_id", "instance_id", "step_id", "template", "locale")
        fields |= {name: getattr(message, name) for name in descriptive if getattr(message, name)}
    return fields


async def record_status(
    engine: AsyncEngine, store: EventStore, report: StatusReport, now: datetime
) -> StatusOutcome:
    event_type = STATUS_EVENT_TYPES.get(report.status)
    if event_type is None:
        return StatusOutcome(None, recorded=False, suppressed=None)
    sent = await ledger.get(engine, report.idempotency_key)
    async with engine.connect() as conn:
        message = await queries.get_message(conn, report.idempotency_key)
        customer_id = sent.customer_id if sent else message.customer_id if message else None
        customer = await queries.get_customer(conn, customer_id) if customer_id else None
    payload = described(report, sent, message)
    if report.status != "delivered":
        payload |= {"error_code": report.error_code, "reason": reason_of(report.status, report.error_code)}
    new_events = [
        NewEvent(
            event_id=status_event_id(report.message_sid, report.status),
            type=event_type,
            customer_id=customer_id,
            occurred_at=now,
            source=SOURCE,
            payload={key: value for key, value in payload.items() if value is not None},
        )
    ]
    suppression = SUPPRESSING_ERRORS.get(report.error_code or "") if report.status != "delivered" else None
    # The number the message went to; the customer's current one if Twilio did not say.
    address = report.to_number or (customer.phone if customer else None)
    if suppression is None or customer_id is None or address is None:
        suppression = None
    else:
        new_events.append(
            suppression_added(
                customer_id=customer_id,
                channel="sms",
                address=address,
                reason=suppression,
                source=SOURCE,
                event_id=status_event_id(report.message_sid, report.status, "suppression"),
                occurred_at=now,
            )
        )
    try:
        async with engine.begin() as conn:
            receipt = f"status:{report.message_sid}:{report.status}"
            if not await first_receipt(conn, SOURCE, receipt):
                return StatusOutcome(event_type, recorded=False, suppressed=None)
            await store.append_in(conn, new_events)
    except CustomerErased:
        log.info("twilio status %s %s: customer erased, nothing recorded", report.message_sid, report.status)
        return StatusOutcome(event_type, recorded=False, suppressed=None)
    # Ids only: the number is personal.
    log.info(
        "twilio status %s %s for %s (customer %s)%s",
        report.message_sid,
        report.status,
        report.idempotency_key,
        customer_id or "unknown",
        f", suppressed: {suppression}" if suppression else "",
    )
    return StatusOutcome(event_type, recorded=True, suppressed=suppression)
