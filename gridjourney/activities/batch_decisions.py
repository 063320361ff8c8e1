"""A cohort chunk's decisions (activities/send_batch.py): the members' requests, then one transaction
that locks their customers, judges each as the per-customer send does (`eligibility.gather_many` +
`eligibility.judge`) and reserves the chosen channels; then each member's lot: finished (refused,
unknown), deferred by quiet hours, or on its way to the provider with its rendered message."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridjourney.activities import eligibility, ledger
from gridjourney.activities.context import customer_records
from gridjourney.activities.send import MessageSending
from gridjourney.activities.send_content import outgoing_message
from gridjourney.activities.send_events import deferred_event, outcome_event
from gridjourney.channels.base import OutgoingMessage
from gridjourney.cohorts.queries import Member
from gridjourney.content import TemplateLookups
from gridjourney.events.models import NewEvent
from gridjourney.workflows.cohort_contracts import CohortSendInput
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

# A member's outcome with the events that record it.
Finished = tuple[SendMessageInput, SendOutcome, list[NewEvent]]


@dataclass
class Pending:
    """A member on its way to the provider."""

    request: SendMessageInput
    message: OutgoingMessage
    locale: str


@dataclass
class ChunkPlan:
    """What the decisions made of a chunk's members. `taken_over`: the customer ids of members whose
    row another attempt took while deciding (not ours to send)."""

    finished: list[Finished] = field(default_factory=list)
    deferred: list[tuple[SendMessageInput, datetime, NewEvent]] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)


def member_request(
    request: CohortSendInput, member: Member, performance: dict[str, Any] | None
) -> SendMessageInput:
    """The per-customer send's input for one member: the same key, template and variables."""
    return SendMessageInput(
        idempotency_key=request.idempotency_key(member.customer_id),
        customer_id=member.customer_id,
        journey_id=request.journey_id,
        journey_version=request.version,
        instance_id=request.batch.run_id,
        step_id=request.batch.step_id,
        channels=request.channels,
        template=request.template,
        purpose=request.purpose,
        variables={"event": request.subject, "performance": performance or {"known": False}},
        sending_hours=request.sending_hours,
        can_defer=request.can_defer,
    )


async def decide_chunk(
    sending: MessageSending,
    request: CohortSendInput,
    requests: list[SendMessageInput],
    token: str,
    new_keys: Collection[str] = (),
) -> ChunkPlan:
    """The decisions and reservations of `requests`: their keys owned by `token`, except `new_keys`,
    which have no ledger row yet and are claimed here, each with its decision (already reserved when
    a channel is chosen: ledger_many.claim_new_many)."""
    policy, senders, lease = sending.policy, sending.senders, sending.claim_lease
    now = sending.clock()  # one clock for the decisions and the reservations their caps count
    decisions: dict[str, eligibility.SendDecision] = {}
    by_key = {r.idempotency_key: r for r in requests}
    async with sending.engine.begin() as conn:  # one checkout for the reads, decisions and reservations
        customers = await customer_records(conn, [r.customer_id for r in requests])
        await ledger.lock_customers(conn, list(customers))
        facts = await eligibility.gather_many(conn, policy, list(customers), request.purpose, now)
        for r in requests:
            if r.customer_id in customers:
                customer = customers[r.customer_id]
                judged = eligibility.judge(policy, customer, r, senders.keys(), now, facts[r.customer_id])
                decisions[r.idempotency_key] = judged
        chosen = {
            key: d.channel
            for key, d in decisions.items()
            if d.deferred_until is None and d.channel is not None and d.recipient is not None
        }
        owned = {key: channel for key, channel in chosen.items() if key not in new_keys}
        reserved = await ledger.reserve_many(conn, owned, token, request.purpose, lease, at=now)
        first = {key: (by_key[key].customer_id, chosen.get(key)) for key in new_keys}
        claimed = await ledger.claim_new_many(
            conn,
            first,
            token,
            lease,
            purpose=request.purpose,
            journey_id=request.journey_id,
            step_id=request.batch.step_id,
            at=now,
        )
        reserved |= claimed & chosen.keys()
    plan = ChunkPlan()
    templates = await sending.version_templates.of(request.journey_id, request.version)
    lookups = TemplateLookups()  # the chunk's messages rendered from the templates as its first found them
    for r in requests:
        decision = decisions.get(r.idempotency_key)
        if r.idempotency_key in new_keys and r.idempotency_key not in claimed:
            plan.taken_over.append(r.customer_id)  # another attempt claimed it first
        elif decision is None:
            unknown = SendOutcome(status="suppressed", reason="unknown_customer")
            plan.finished.append((r, unknown, [outcome_event(r, unknown)]))
        elif decision.deferred_until is not None and r.can_defer:
            event = deferred_event(r, decision.deferred_until, decision.time_zone, decision.reason())
            plan.deferred.append((r, decision.deferred_until, event))
        elif decision.deferred_until is not None or r.idempotency_key not in chosen:
            reason = "quiet_hours" if decision.deferred_until is not None else decision.reason()
            refused = SendOutcome(status="suppressed", reason=reason)
            plan.finished.append((r, refused, [outcome_event(r, refused)]))
        elif r.idempotency_key in reserved:
            assert decision.channel is not None and decision.recipient is not None
            prepared = outgoing_message(
                templates,
                r,
                customers[r.customer_id],
                decision.channel,
                decision.recipient,
                sending.status_callback_base,
                lookups,
            )
            if isinstance(prepared, SendOutcome):
                plan.finished.append((r, prepared, [outcome_event(r, prepared)]))
            else:
                plan.pending.append(Pending(r, *prepared))
        else:
            plan.taken_over.append(r.customer_id)
    return plan
