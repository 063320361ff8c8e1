"""Inbound SMS (Twilio's incoming-message webhook) as events and the one reply the law asks for.

STOP (and its plain-language forms, inbound/keywords.py) revokes SMS consent for every purpose with
method `sms_reply` and puts the number on the suppression list, both only where not done already (a
repeated STOP is answered and records nothing); START and UNSTOP restore what the STOP took away; YES
does too, but only for a customer who opted out (otherwise it is an ordinary reply); HELP answers with
the policy's help text and records nothing. OUT ("still out", "no power") from a known customer is
`outage.reported` for their premise and the open outage covering them, if any, besides
`message.received`, and is answered with the policy's outage text when it has one. Anything else is
`message.received`, for journeys to wait for. Replies come from the policy, in the customer's locale.

A number may belong to several customers (a household): each is handled. An unknown number still
gets its STOP or HELP answered (carriers require it). Its STOP is recorded too, for the number and not
a customer (an address-wide suppression, kept as a keyed hash: projections/suppressions.py): an
opt-out belongs to the number, so whoever has it later (a customer created afterwards, with a CRM
consent) is not texted until a START from it, which removes it. Nothing else of an unknown number is
recorded. Event ids derive from the MessageSid and a receipt row is written with them, so Twilio's
retries record nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.activities import ledger
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.events.types import OutageReported, Purpose
from gridjourney.inbound.keywords import classify, first_word
from gridjourney.inbound.queries import ConsentChange, first_receipt, sms_consent_changes
from gridjourney.incidents.queries import open_incident_covering
from gridjourney.policy.model import Policy
from gridjourney.privacy.address_hash import ANYONE
from gridjourney.projections import queries
from gridjourney.projections.queries import CustomerView
from gridjourney.projections.suppressions import (
    address_wide_removal,
    address_wide_suppression,
    get_suppression,
    suppression_added,
    suppression_removed,
)

log = logging.getLogger(__name__)

SOURCE = "twilio"
SMS_PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
REPLY_METHOD = "sms_reply"  # consent.changed method of a STOP or START reply
STOP_REASON = "stop_reply"  # suppression reason of a STOP reply
START_REASON = "start_reply"
# Fixed: the ids of the events an inbound message records are the same on every delivery of it.
INBOUND_EVENT_NAMESPACE = uuid.UUID("3c8e2f61-7b0d-4a9e-8c25-91d4e6a0b7f3")

Action = Literal["stop", "start", "help", "out", "received"]


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    from_number: str  # E.164
    body: str


@dataclass(frozen=True)
class InboundAnswer:
    action: Action
    reply: str | None  # the text to answer with; None: no answer
    customer_ids: list[str]
    recorded: int  # events appended by this request (0 when Twilio repeats one already handled)


@dataclass(frozen=True)
class OptOutState:
    stopped: frozenset[str]  # purposes whose SMS consent in force is a STOP reply's revocation
    restorable: frozenset[str]  # of those, the ones the customer could be texted for before it
    revoked: frozenset[str]  # purposes whose SMS consent in force is a revocation, however made


def opt_out_state(changes: Sequence[ConsentChange], implied: Collection[str]) -> OptOutState:
    """What a START would undo (and what a STOP need not revoke again), from the customer's SMS
    consent changes in the order they take effect (inbound/queries.py). `implied`: the purposes whose
    policy needs no consent (they were allowed before a STOP even without a grant)."""
    current: dict[str, ConsentChange] = {}
    before_stop: dict[str, bool | None] = {}
    for change in changes:
        previous = current.get(change.purpose)
        if _is_stop(change) and (previous is None or not _is_stop(previous)):
            # A second STOP keeps what the first one took away.
            before_stop[change.purpose] = None if previous is None else previous.granted
        current[change.purpose] = change
    stopped = frozenset(purpose for purpose, change in current.items() if _is_stop(change))
    restorable = frozenset(
        purpose
        for purpose in stopped
        if before_stop[purpose] is True or (before_stop[purpose] is None and purpose in implied)
    )
    revoked = frozenset(purpose for purpose, change in current.items() if not change.granted)
    return OptOutState(stopped, restorable, revoked)


def _is_stop(change: ConsentChange) -> bool:
    return not change.granted and change.method == REPLY_METHOD


def _event_id(sms: InboundSms, customer_id: str, what: str) -> uuid.UUID:
    return uuid.uuid5(INBOUND_EVENT_NAMESPACE, f"{sms.message_sid}#{customer_id}#{what}")


def _consent(sms: InboundSms, customer_id: str, purpose: str, granted: bool, now: datetime) -> NewEvent:
    return NewEvent(
        event_id=_event_id(sms, customer_id, f"consent:{purpose}"),
        type="consent.changed",
        customer_id=customer_id,
        occurred_at=now,
        source=SOURCE,
        payload={"channel": "sms", "purpose": purpose, "granted": granted, "method": REPLY_METHOD},
    )


def stop_events(
    sms: InboundSms, customer_id: str, state: OptOutState, number_suppressed: bool, now: datetime
) -> list[NewEvent]:
    """SMS consent revoked for every purpose not revoked already, and the number suppressed unless it
    is: a STOP from a customer already opted out records nothing (it is still answered)."""
    revoked = [
        _consent(sms, customer_id, purpose, False, now)
        for purpose in SMS_PURPOSES
        if purpose not in state.revoked
    ]
    if number_suppressed:
        return revoked
    suppression = suppression_added(
        customer_id=customer_id,
        channel="sms",
        address=sms.from_number,
        reason=STOP_REASON,
        source=SOURCE,
        event_id=_event_id(sms, customer_id, "suppression"),
        occurred_at=now,
    )
    return [*revoked, suppression]


def start_events(
    sms: InboundSms, customer_id: str, state: OptOutState, number_suppressed: bool, now: datetime
) -> list[NewEvent]:
    """Consent back for what the STOP took away, and the number off the suppression list (whatever
    put it there: a START is the customer saying the number takes texts)."""
    granted = [_consent(sms, customer_id, purpose, True, now) for purpose in sorted(state.restorable)]
    if not (state.stopped or number_suppressed):
        return granted
    removal = suppression_removed(
        customer_id=customer_id,
        channel="sms",
        address=sms.from_number,
        source=SOURCE,
        event_id=_event_id(sms, customer_id, "suppression"),
        reason=START_REASON,
        occurred_at=now,
    )
    return [*granted, removal]


def received_event(sms: InboundSms, customer_id: str, now: datetime) -> NewEvent:
    return NewEvent(
        event_id=_event_id(sms, customer_id, "received"),
        type="message.received",
        customer_id=customer_id,
        occurred_at=now,
        source=SOURCE,
        payload={
            "channel": "sms",
            "body": sms.body,
            "keyword": first_word(sms.body),
            "provider_message_id": sms.message_sid,
        },
    )


def reported_event(
    sms: InboundSms, customer: CustomerView, incident_id: str | None, now: datetime
) -> NewEvent:
    """The customer's report that they have no power (an OUT reply)."""
    payload = OutageReported(incident_id=incident_id, premise_id=customer.premise_id, channel="sms")
    return NewEvent(
        event_id=_event_id(sms, customer.customer_id, "outage_reported"),
        type="outage.reported",
        customer_id=customer.customer_id,
        occurred_at=now,
        source=SOURCE,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )


async def answer_inbound(
    engine: AsyncEngine, store: EventStore, policy: Policy, sms: InboundSms, now: datetime
) -> InboundAnswer:
    keyword = classify(sms.body)
    implied = {purpose for purpose in SMS_PURPOSES if policy.rules(purpose).consent == "implied"}
    async with engine.begin() as conn:
        customers = await queries.customers_with_phone(conn, sms.from_number)
        states = {c.customer_id: await _locked_state(conn, c.customer_id, implied) for c in customers}
        action: Action
        if keyword is None or (keyword.kind == "yes" and not any(s.stopped for s in states.values())):
            action = "received"
        elif keyword.kind == "out" and not customers:
            action = "received"  # an outage report needs a customer to place it: nothing to record
        else:
            action = "start" if keyword.kind == "yes" else keyword.kind
        new_events: list[NewEvent] = []
        for customer_id, state in states.items():
            if action in ("stop", "start"):
                suppressed = await get_suppression(conn, customer_id, "sms", sms.from_number) is not None
                make_events = stop_events if action == "stop" else start_events
                new_events += make_events(sms, customer_id, state, suppressed, now)
            elif action == "received":
                new_events.append(received_event(sms, customer_id, now))
        anyone_id = _event_id(sms, ANYONE, "suppression")
        if action == "stop" and not customers:
            new_events.append(
                address_wide_suppression("sms", sms.from_number, STOP_REASON, SOURCE, anyone_id, now)
            )
        elif action == "start":
            new_events += await address_wide_removal(
                conn, "sms", sms.from_number, SOURCE, anyone_id, START_REASON, now
            )
        if action == "out":
            for customer in customers:
                incident_id = await open_incident_covering(conn, customer.customer_id)
                new_events.append(reported_event(sms, customer, incident_id, now))
                new_events.append(received_event(sms, customer.customer_id, now))
        recorded = 0
        if new_events and await first_receipt(conn, SOURCE, f"inbound:{sms.message_sid}"):
            results = await store.append_in(conn, new_events)
            recorded = sum(not result.duplicate for result in results)
    locale = customers[0].locale if customers else (keyword.language if keyword else None)
    reply = None
    if action != "received":
        reply = policy.replies.text("outage" if action == "out" else action, locale, policy.program)
    # Ids only: the number and the text are personal.
    log.info(
        "inbound sms %s: %s for %d customer(s) %s, %d event(s) recorded",
        sms.message_sid,
        action,
        len(states),
        ",".join(states),
        recorded,
    )
    return InboundAnswer(action, reply, list(states), recorded)


async def _locked_state(conn: AsyncConnection, customer_id: str, implied: Collection[str]) -> OptOutState:
    # Serialized with the customer's sends and other replies (activities/ledger.py): a START read
    # while a STOP is being written would restore from a stale history.
    await ledger.lock_customer(conn, customer_id)
    return opt_out_state(await sms_consent_changes(conn, customer_id), implied)
