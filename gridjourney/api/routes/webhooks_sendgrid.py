"""`POST /webhooks/sendgrid/events`: SendGrid's Event Webhook. No API key: the request's ECDSA
signature is the proof (gridjourney/inbound/sendgrid_events.py). A forged, unsigned, stale or
replayed request gets 403 and records nothing."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request

from gridjourney.api.deps import SettingsDep, StoreDep, read_limited_body
from gridjourney.api.problems import ApiProblem, FieldError, problem_responses
from gridjourney.inbound.sendgrid_events import (
    IngestResult,
    VerificationKeyInvalid,
    WebhookRefused,
    events_from_rows,
    ingest,
    receipt_id,
    verify,
)
from gridjourney.inbound.sendgrid_keys import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_public_key

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

EXAMPLE_ROWS = [
    {
        "email": "ana@example.org",
        "timestamp": 1784066400,
        "event": "delivered",
        "sg_event_id": "ZGVsaXZlcmVkLTAtMzY5",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "gridjourney_key": "high_bill_alert:C-1001:2026-07:send-1",
        "gridjourney_customer": "C-1001",
        "gridjourney_purpose": "informational",
    }
]
# The body is read raw (the signature covers its exact bytes), so it is documented here.
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object"}},
            "example": EXAMPLE_ROWS,
        }
    },
}


def _refused(error: WebhookRefused) -> ApiProblem:
    return ApiProblem(
        403,
        "webhook-signature",
        "The request is not a valid SendGrid webhook",
        f"{error.reason}; nothing was recorded",
        [FieldError(field=error.header, reason=error.reason)],
    )


@router.post(
    "/webhooks/sendgrid/events",
    summary="SendGrid Event Webhook (signed): delivered, bounce, dropped, spam report, open, click",
    description="A JSON array of SendGrid event rows, signed with the account's Event Webhook key "
    f"(`{SIGNATURE_HEADER}` over `{TIMESTAMP_HEADER}` + body). Each row about one of our messages "
    "becomes a message.* event; hard bounces and spam reports also suppress the address.",
    responses=problem_responses(400, 403, 413),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def sendgrid_events(request: Request, settings: SettingsDep, store: StoreDep) -> IngestResult:
    payload = await read_limited_body(request, settings.max_event_body_bytes)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    now = datetime.now(UTC)
    try:
        verify(
            webhook_public_key(settings),
            payload,
            request.headers.get(SIGNATURE_HEADER),
            timestamp,
            now,
            settings.webhook_max_age,
        )
    except WebhookRefused as error:
        raise _refused(error) from None
    except VerificationKeyInvalid as error:
        log.error("SendGrid webhook refused: %s", error)
        raise ApiProblem(
            500, "webhook-key", "The webhook verification key is misconfigured", str(error)
        ) from None
    assert timestamp is not None  # verify() refuses requests without one
    try:
        rows = json.loads(payload)
    except ValueError:
        rows = None
    if not isinstance(rows, list):
        raise ApiProblem(
            400,
            "validation",
            "The request is invalid",
            "the Event Webhook body must be a JSON array of event rows",
            [FieldError(field="body", reason="not a JSON array")],
        )
    made = events_from_rows(rows)
    try:
        return await ingest(store, receipt_id(timestamp, payload), made.events, made.skipped)
    except WebhookRefused as error:
        raise _refused(error) from None
