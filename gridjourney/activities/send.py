"""SEND_MESSAGE: exactly-once sending from the customer's side.

    claim the key in the ledger → customer → eligibility → render → provider → event → ledger

The claim comes before the provider call, so a retried or concurrent attempt finds it and does not
send again. The outcome is appended to the event log (under an id derived from the key) before the
ledger row is marked, so a crash between the two is healed by finding the event. A claim whose
attempt vanished mid-call (a crash, a timeout after the request left) is ambiguous: the message may
be on the customer's phone already. Safety messages are sent again (a duplicate outage notice is
better than none); marketing and informational ones are not, and that is recorded as a suppression.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridjourney.activities import ledger
from gridjourney.activities.context import load_customer
from gridjourney.activities.eligibility import eligible_channel
from gridjourney.channels.base import OutgoingMessage, PermanentSendError, Sender, TransientSendError
from gridjourney.content import TemplateProblem, render
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent, StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

SOURCE = "gridjourney.send"
OUTCOME_TYPES = {"sent": "message.sent", "suppressed": "message.suppressed", "failed": "message.failed"}
# Fixed namespace: message event ids are uuid5(namespace, key + type), the same on every attempt.
MESSAGE_EVENT_NAMESPACE = uuid.UUID("5b0f1c4e-6a43-4d55-9a51-2f0c8f3e7d21")
RESENT_PURPOSES = frozenset({"safety"})


class SendInProgress(RuntimeError):
    """Another attempt holds the key and is still within its lease; Temporal retries later."""


def message_event_id(idempotency_key: str, event_type: str) -> uuid.UUID:
    return uuid.uuid5(MESSAGE_EVENT_NAMESPACE, f"{idempotency_key}#{event_type}")


class MessageSending:
    """The send activity's logic, independent of Temporal (the activity class wraps it).

    `claim_lease`: how long a claimed key is presumed in flight; keep it above the provider
    timeout. `wait_for_other`: how long to wait for a concurrent attempt before giving up (and
    letting Temporal retry).
    """

    def __init__(
        self,
        store: EventStore,
        templates_dir: Path,
        senders: Mapping[Channel, Sender],
        *,
        claim_lease: timedelta = timedelta(seconds=60),
        wait_for_other: timedelta = timedelta(seconds=5),
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.templates_dir = templates_dir
        self.senders = senders
        self.claim_lease = claim_lease
        self.wait_for_other = wait_for_other

    async def send(self, request: SendMessageInput) -> SendOutcome:
        key = request.idempotency_key
        deadline = time.monotonic() + self.wait_for_other.total_seconds()
        while True:
            if await ledger.claim(self.engine, key, request.customer_id):
                return await self._send_owned(request)
            row = await ledger.get(self.engine, key)
            if row is None:
                continue  # released by a failed attempt in between: claim again
            recorded = await self._recorded_outcome(key)
            if recorded is not None:
                if not row.completed:  # the event was written, the ledger mark was lost
                    await ledger.complete(
                        self.engine, key, recorded.status, recorded.channel, recorded.provider_message_id
                    )
                return recorded.model_copy(update={"duplicate": True})
            if row.completed:  # outcomes are evented before the ledger mark; kept for rows from elsewhere
                return outcome_from_ledger(row)
            if await ledger.take_over(self.engine, key, self.claim_lease):
                return await self._resume_ambiguous(request)
            if time.monotonic() >= deadline:
                raise SendInProgress(f"{key}: another attempt holds the claim (since {row.claimed_at})")
            await asyncio.sleep(0.05)

    async def _recorded_outcome(self, key: str) -> SendOutcome | None:
        for status, event_type in OUTCOME_TYPES.items():
            event = await self.store.get(message_event_id(key, event_type))
            if event is not None:
                return outcome_from_event(status, event)
        return None

    async def _resume_ambiguous(self, request: SendMessageInput) -> SendOutcome:
        if request.purpose in RESENT_PURPOSES:
            return await self._send_owned(request)
        reason = (
            f"ambiguous_prior_attempt: an earlier attempt may have reached the provider; "
            f"{request.purpose} messages are not resent"
        )
        return await self._finish(request, SendOutcome(status="suppressed", reason=reason))

    async def _send_owned(self, request: SendMessageInput) -> SendOutcome:
        """We hold the claim. Until the provider is called nothing can have been sent, so any
        failure before then gives the key back."""
        try:
            prepared = await self._prepare(request)
        except BaseException:
            await ledger.release(self.engine, request.idempotency_key)
            raise
        if isinstance(prepared, SendOutcome):
            return await self._finish(request, prepared)
        message, locale = prepared
        try:
            receipt = await self.senders[message.channel].send(message)
        except PermanentSendError as error:
            kind = "invalid_recipient" if error.invalid_recipient else "provider_refused"
            failed = SendOutcome(status="failed", channel=message.channel, reason=f"{kind}: {error.reason}")
            return await self._finish(request, failed, locale=locale)
        except TransientSendError as error:
            if error.maybe_accepted:
                await ledger.mark_ambiguous(self.engine, request.idempotency_key)
            else:
                await ledger.release(self.engine, request.idempotency_key)
            raise
        except BaseException:
            # Cancelled or crashed mid-call: the provider may have the message.
            await ledger.mark_ambiguous(self.engine, request.idempotency_key)
            raise
        sent = SendOutcome(
            status="sent", channel=message.channel, provider_message_id=receipt.provider_message_id
        )
        return await self._finish(request, sent, locale=locale, segments=receipt.segments)

    async def _prepare(self, request: SendMessageInput) -> SendOutcome | tuple[OutgoingMessage, str]:
        """The message to send, or the outcome that makes sending unnecessary."""
        customer = await load_customer(self.engine, request.customer_id)
        if customer is None:
            return SendOutcome(status="suppressed", reason="unknown_customer")
        decision = await eligible_channel(
            self.engine, customer, request.channels, request.purpose, available_channels=self.senders.keys()
        )
        if decision.channel is None or decision.recipient is None:
            return SendOutcome(status="suppressed", reason=decision.reason())
        variables: dict[str, Any] = {
            "journey": {"id": request.journey_id, "version": request.journey_version},
            **request.variables,
            "customer": customer.context().namespace(),
        }
        try:
            rendered = render(
                self.templates_dir, decision.channel, request.template, customer.locale, variables
            )
        except TemplateProblem as error:
            return SendOutcome(status="failed", channel=decision.channel, reason=f"template_error: {error}")
        message = OutgoingMessage(
            idempotency_key=request.idempotency_key,
            channel=decision.channel,
            recipient=decision.recipient,
            subject=rendered.subject,
            body=rendered.body,
        )
        return message, rendered.locale

    async def _finish(
        self,
        request: SendMessageInput,
        outcome: SendOutcome,
        *,
        locale: str | None = None,
        segments: int | None = None,
    ) -> SendOutcome:
        event_type = OUTCOME_TYPES[outcome.status]
        payload: dict[str, Any] = {
            "idempotency_key": request.idempotency_key,
            "journey_id": request.journey_id,
            "instance_id": request.instance_id,
            "step_id": request.step_id,
            "template": request.template,
            "channel": outcome.channel,
            "locale": locale,
        }
        if outcome.status == "sent":
            payload |= {"provider_message_id": outcome.provider_message_id, "segments": segments}
        else:
            payload["reason"] = outcome.reason
        event = NewEvent(
            event_id=message_event_id(request.idempotency_key, event_type),
            type=event_type,
            customer_id=request.customer_id,
            occurred_at=datetime.now(UTC),
            source=SOURCE,
            payload=payload,
        )
        await self.store.append([event])
        await ledger.complete(
            self.engine, request.idempotency_key, outcome.status, outcome.channel, outcome.provider_message_id
        )
        return outcome


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


def outcome_from_ledger(row: ledger.LedgerRow) -> SendOutcome:
    return SendOutcome.model_validate(
        {
            "status": row.status,
            "channel": row.channel,
            "provider_message_id": row.provider_message_id,
            "duplicate": True,
        }
    )
