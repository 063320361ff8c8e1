"""A cohort chunk's provider calls (activities/send_batch.py): its reserved rows move to `calling`,
the providers are called (channels/bulk.py), and each answer becomes an outcome to record or a
transient error for the retry."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from gridjourney.activities import ledger
from gridjourney.activities.batch_decisions import Finished, Pending
from gridjourney.activities.send import MessageSending
from gridjourney.activities.send_content import ledger_note
from gridjourney.activities.send_events import outcome_event, suppression_event_id
from gridjourney.channels.base import PermanentSendError, SendError
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.contracts import SendOutcome


@dataclass
class CallResults:
    """`finished`: sent or failed for good, to record; `maybe_accepted` / `not_accepted`: keys whose
    call met a transient error (the provider may / cannot have the message); `taken_over`: members (ids)
    whose row another attempt took before the call."""

    finished: list[Finished] = field(default_factory=list)
    maybe_accepted: list[str] = field(default_factory=list)
    not_accepted: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)


async def call_providers(
    sending: MessageSending, calls: ProviderCalls, token: str, pending: list[Pending]
) -> CallResults:
    results = CallResults()
    async with sending.engine.begin() as conn:
        calling = await ledger.start_call_many(
            conn, [p.request.idempotency_key for p in pending], token, sending.claim_lease
        )
    results.taken_over = [p.request.customer_id for p in pending if p.request.idempotency_key not in calling]
    pending = [p for p in pending if p.request.idempotency_key in calling]
    try:
        answers = await calls.send([p.message for p in pending])
    except BaseException as error:
        # Crashed (or cancelled despite send_batch.py's shield) mid-call: the provider may have any of these.
        with contextlib.suppress(Exception):
            async with sending.engine.begin() as conn:
                note = ledger_note(f"{type(error).__name__}: {error}")
                await ledger.mark_ambiguous_many(conn, calling, token, note)
        raise
    for p, answer in zip(pending, answers, strict=True):
        r, channel = p.request, p.message.channel
        if isinstance(answer, PermanentSendError):
            kind = "invalid_recipient" if answer.invalid_recipient else "provider_refused"
            failed = SendOutcome(status="failed", channel=channel, reason=f"{kind}: {answer.reason}")
            events = [outcome_event(r, failed, locale=p.locale, error_code=answer.code)]
            if answer.invalid_recipient:
                key = suppression_event_id(r.idempotency_key)
                added = suppression_added(
                    r.customer_id, channel, p.message.recipient, kind, "gridjourney.send", key
                )
                events.append(added)
            results.finished.append((r, failed, events))
        elif isinstance(answer, SendError):
            if getattr(answer, "maybe_accepted", False):
                results.maybe_accepted.append(r.idempotency_key)
            else:
                results.not_accepted.append(r.idempotency_key)
        else:
            sent = SendOutcome(status="sent", channel=channel, provider_message_id=answer.provider_message_id)
            results.finished.append(
                (r, sent, [outcome_event(r, sent, locale=p.locale, segments=answer.segments)])
            )
    return results
