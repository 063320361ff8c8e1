"""SEND_MESSAGE: exactly-once sending from the customer's side.

    acquire the key (ledger, owner token + lease) → [an earlier attempt may have reached the provider:
    look the message up] → customer → eligibility + reservation (one transaction, customer locked) →
    render → `calling` (lease renewed) → provider → outcome event + ledger row (one transaction, retried)

Every move of the ledger row names this attempt's token, so an attempt that lost its lease (paused,
partitioned) can neither send nor record: it raises ClaimLost. A lease is kept alive by the activity's
heartbeats. The next attempt after a crash knows from the row's status where the last one stopped:
`claimed` or `sending` (reserved, but the provider was not called: decide and send afresh),
`calling`/`ambiguous` (it may have been: ask the provider first; when it cannot answer yet, as
SendGrid's activity lags, a later attempt asks again; only when it can never answer does the purpose
decide, see `RESENT_PURPOSES`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridjourney.activities import eligibility, ledger
from gridjourney.activities.context import CustomerRecord, load_customer
from gridjourney.activities.lease import Heartbeat, kept_alive
from gridjourney.activities.send_carry import current_carry
from gridjourney.activities.send_content import (
    VersionTemplates,
    ledger_note,
    lookup_address,
    outgoing_message,
)
from gridjourney.activities.send_events import (
    OUTCOME_TYPES,
    deferred_event,
    message_event_id,
    outcome_event,
    outcome_from_event,
    outcome_from_ledger,
    suppression_event_id,
)
from gridjourney.channels.base import (
    LookupNotYet,
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    ProviderReceipt,
    Sender,
    TransientSendError,
)
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventIdConflict, EventStore
from gridjourney.outages import outage
from gridjourney.policy.model import Policy
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

log = logging.getLogger(__name__)

# Purposes resent when the provider cannot say whether an earlier attempt reached it: a duplicate
# outage notice is better than none. The others wait as `ambiguous` for an operator.
RESENT_PURPOSES = frozenset({"safety"})
# Keep it well under the workflow's heartbeat_timeout for SEND_MESSAGE (workflows/journey_sending.py).
MAX_HEARTBEAT_INTERVAL = timedelta(seconds=10)


class SendInProgress(RuntimeError):
    """Another attempt holds the key and is still within its lease; Temporal retries later."""


class SendHeld(RuntimeError):
    """The message may be at the provider, which cannot tell us: it waits as `ambiguous` until an
    operator resolves it (`gridjourney sends resolve`); retried, never recorded as suppressed."""


@dataclass
class _ProviderCall:
    """Whether this attempt has called the provider: before, a failure gives the key back."""

    started: bool = False


class MessageSending:
    """The send activity's logic, independent of Temporal (the activity class wraps it).

    `claim_lease`: how long a key stays owned without a renewal; the attempt renews it (and
    heartbeats) every quarter lease, at most every 10 s (`heartbeat_every` overrides it).
    `wait_for_other`: how long to wait for a concurrent attempt before giving up (and letting
    Temporal retry). `look_up_after`: how long a send whose provider call may have succeeded (a
    timeout, a dropped connection) is left alone before an attempt looks it up: longer than any
    provider call can last, since the provider may take a request after the client gave up.
    `status_callback_base`: the API's public URL, for Twilio's status callbacks.
    """

    def __init__(
        self,
        store: EventStore,
        templates_dir: Path,
        senders: Mapping[Channel, Sender],
        policy: Policy,
        *,
        claim_lease: timedelta = timedelta(seconds=60),
        wait_for_other: timedelta = timedelta(seconds=5),
        look_up_after: timedelta = timedelta(seconds=30),
        status_callback_base: str | None = None,
        heartbeat_every: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`clock`: the time eligibility is judged at (quiet hours); see activities/journey_activities.py."""
        self.store = store
        self.engine = store.engine
        self.templates_dir = templates_dir
        self.version_templates = VersionTemplates(store.engine, templates_dir)
        self.senders = senders
        self.policy = policy
        self.claim_lease = claim_lease
        self.wait_for_other = wait_for_other
        self.look_up_after = look_up_after
        self.status_callback_base = status_callback_base
        self.record_retry_max = timedelta(seconds=5)
        self.heartbeat_every = heartbeat_every or min(claim_lease / 4, MAX_HEARTBEAT_INTERVAL)
        self.clock = clock

    async def send(self, request: SendMessageInput, heartbeat: Heartbeat | None = None) -> SendOutcome:
        key = request.idempotency_key
        token = str(uuid.uuid4())
        deadline = time.monotonic() + self.wait_for_other.total_seconds()
        while True:
            async with self.engine.begin() as conn:
                row = await ledger.acquire(
                    conn,
                    key,
                    token,
                    self.claim_lease,
                    customer_id=request.customer_id,
                    purpose=request.purpose,
                    journey_id=request.journey_id,
                    step_id=request.step_id,
                )
            if row is not None:
                async with kept_alive(
                    self.engine, key, token, self.claim_lease, self.heartbeat_every, heartbeat
                ):
                    return await self._send_owned(request, token, row)
            recorded = await self._recorded_outcome(key)
            if recorded is not None:
                return recorded.model_copy(update={"duplicate": True})
            current = await ledger.get(self.engine, key)
            if current is not None and current.completed:
                return outcome_from_ledger(current)
            if current is not None and time.monotonic() >= deadline:
                raise SendInProgress(f"{key}: another attempt holds the claim (since {current.claimed_at})")
            await asyncio.sleep(0.05)

    async def give_up(self, request: SendMessageInput, reason: str) -> SendOutcome:
        """The workflow's retries ran out. A row in doubt (the provider may have the message) is looked
        up first: found, it is recorded `sent`. Otherwise (not found, never sent, or the provider cannot
        answer) `message.failed` with the reason, and the row is completed. Nothing changes when an
        outcome is recorded already. Raises SendInProgress while a live attempt holds the key."""
        recorded = await self._recorded_outcome(request.idempotency_key)
        if recorded is not None:
            return recorded.model_copy(update={"duplicate": True})
        token = str(uuid.uuid4())
        async with self.engine.begin() as conn:
            row = await ledger.acquire(
                conn, request.idempotency_key, token, self.claim_lease, customer_id=request.customer_id
            )
        if row is None:
            current = await ledger.get(self.engine, request.idempotency_key)
            if current is not None and current.completed:
                return outcome_from_ledger(current)
            raise SendInProgress(f"{request.idempotency_key}: an attempt still holds the send")
        if row.status in ledger.IN_DOUBT:
            try:
                found = await self._find_earlier(request, row)
            except LookupUnavailable as error:
                log.warning("%s: giving up; the provider cannot say (%s)", request.idempotency_key, error)
                found = None
            if found is not None:
                message, receipt = found
                return await self._record_found(request, token, message, receipt)
        channel = row.channel if row.channel in ("sms", "email", "push") else None
        failed = SendOutcome.model_validate(
            {"status": "failed", "channel": channel, "reason": f"gave_up: {reason}"}
        )
        return await self._record(request, token, failed, [outcome_event(request, failed)])

    # --- the owned path ----------------------------------------------------------------------------
    async def _send_owned(self, request: SendMessageInput, token: str, row: ledger.LedgerRow) -> SendOutcome:
        key = request.idempotency_key
        if row.attempts > 1:
            recorded = await self._recorded_outcome(key)
            if recorded is not None:  # recorded by a version that wrote the event before the row
                await self._record(request, token, recorded, [])
                return recorded.model_copy(update={"duplicate": True})
        if row.status in ledger.IN_DOUBT:
            found = await self.look_up_earlier(request, token, row)
            if found is not None:
                return found
        elif row.status == ledger.SENDING:
            # Reserved, but the attempt stopped before the provider call: nothing to look up.
            async with self.engine.begin() as conn:
                if not await ledger.unreserve(conn, request.idempotency_key, token):
                    raise ledger.ClaimLost(request.idempotency_key, "deciding again")
        called = _ProviderCall()
        try:
            return await self._decide_and_send(request, token, called)
        except BaseException as error:
            if called.started or isinstance(error, ledger.ClaimLost):
                raise  # _call_provider left the row where it must be; a lost row is not ours
            # Nothing reached the provider: give the key back. If even that fails, the lease runs
            # out and the next attempt takes the `claimed` (or `sending`) row over and decides afresh.
            with contextlib.suppress(Exception):
                async with self.engine.begin() as conn:
                    await ledger.release(
                        conn, key, token, ledger_note(f"attempt failed before sending: {error!r}")
                    )
            raise

    async def look_up_earlier(
        self, request: SendMessageInput, token: str, row: ledger.LedgerRow
    ) -> SendOutcome | None:
        """An earlier attempt may have called the provider: ask it. Returns the recorded outcome when
        the provider has the message; None when this attempt should send (the row is back to
        `claimed`). Raises SendHeld when the provider can never answer and the purpose is not resent;
        LookupNotYet when it cannot answer yet (the row let go, still in doubt, for a later attempt)."""
        key = request.idempotency_key
        try:
            found = await self._find_earlier(request, row)
        except LookupUnavailable as error:
            if isinstance(error, LookupNotYet) and request.purpose not in RESENT_PURPOSES:
                # Not a reason to hold: the row stays in doubt, let go, and a retry asks again.
                note = f"looked up again in {error.retry_after}: {error}"
                async with self.engine.begin() as conn:
                    again = error.retry_after
                    if not await ledger.mark_ambiguous(conn, key, token, ledger_note(note), again):
                        raise ledger.ClaimLost(key, "waiting to look up again") from error
                raise
            if request.purpose not in RESENT_PURPOSES:
                note = (
                    f"held: the provider cannot say whether it has the message ({error}); "
                    f"{request.purpose} messages are not resent blindly: `gridjourney sends resolve`"
                )
                async with self.engine.begin() as conn:
                    # Looked up already: an operator may take the row at once.
                    held = timedelta(0)
                    if not await ledger.mark_ambiguous(conn, key, token, ledger_note(note), held):
                        raise ledger.ClaimLost(key, "holding") from error
                raise SendHeld(f"{key}: {note}") from error
            log.warning("%s: provider look-up unavailable; %s is resent", key, request.purpose)
            found = None
        if found is not None:
            message, receipt = found
            return await self._record_found(request, token, message, receipt)
        async with self.engine.begin() as conn:
            if not await ledger.unreserve(conn, key, token):
                raise ledger.ClaimLost(key, "sending again")
        return None

    async def _find_earlier(
        self, request: SendMessageInput, row: ledger.LedgerRow
    ) -> tuple[OutgoingMessage, ProviderReceipt] | None:
        """The earlier attempt's message at the provider, or None (not there, or it cannot be
        rebuilt). Raises LookupUnavailable when the provider cannot answer."""
        customer = await load_customer(self.engine, request.customer_id)
        if customer is None or row.channel is None or row.channel not in self.senders:
            return None
        address = lookup_address(customer, row.channel)
        prepared = await self._message(request, customer, row.channel, address)  # type: ignore[arg-type]
        if isinstance(prepared, SendOutcome):
            return None
        message = prepared[0]
        receipt = await self.senders[message.channel].lookup(message, row.reserved_at or row.claimed_at)
        return None if receipt is None else (message, receipt)

    async def _record_found(
        self, request: SendMessageInput, token: str, message: OutgoingMessage, receipt: ProviderReceipt
    ) -> SendOutcome:
        sent = SendOutcome(
            status="sent", channel=message.channel, provider_message_id=receipt.provider_message_id
        )
        return await self._record(
            request, token, sent, [outcome_event(request, sent, segments=receipt.segments)]
        )

    async def _decide_and_send(
        self, request: SendMessageInput, token: str, called: _ProviderCall
    ) -> SendOutcome:
        key = request.idempotency_key
        carry = current_carry()
        customer = carry.customer if carry is not None and carry.customer is not None else None
        if customer is None:  # not read already by the journey's entry (activities/send_carry.py)
            customer = await load_customer(self.engine, request.customer_id)
        if customer is None:
            unknown = SendOutcome(status="suppressed", reason="unknown_customer")
            return await self._record(request, token, unknown, [outcome_event(request, unknown)])
        # One transaction: the customer's lock, the decision and the reservation, so that a concurrent
        # decision for the same customer counts this message against its caps.
        now = self.clock()  # one clock for the decision and the reservation its caps count
        async with self.engine.begin() as conn:
            await ledger.lock_customer(conn, request.customer_id)
            decision = await eligibility.decide(
                conn, self.policy, customer, request, self.senders.keys(), now
            )
            chosen = decision.deferred_until is None and decision.channel is not None
            if chosen and decision.channel is not None:
                reserved = await ledger.reserve(
                    conn, key, token, decision.channel, request.purpose, self.claim_lease, at=now
                )
                if not reserved:
                    raise ledger.ClaimLost(key, "reserving a channel")
        if decision.deferred_until is not None:
            return await self._defer(request, token, decision)
        if decision.channel is None or decision.recipient is None:
            refused = SendOutcome(status="suppressed", reason=decision.reason())
            return await self._record(request, token, refused, [outcome_event(request, refused)])
        prepared = await self._message(request, customer, decision.channel, decision.recipient)
        if isinstance(prepared, SendOutcome):
            return await self._record(request, token, prepared, [outcome_event(request, prepared)])
        message, locale = prepared
        return await self._call_provider(request, token, message, locale, called)

    async def _defer(
        self, request: SendMessageInput, token: str, decision: eligibility.SendDecision
    ) -> SendOutcome:
        until = decision.deferred_until
        assert until is not None
        if not request.can_defer:
            # A workflow from before quiet hours cannot wait them out: the message is not sent now.
            quiet = SendOutcome(status="suppressed", reason="quiet_hours")
            return await self._record(request, token, quiet, [outcome_event(request, quiet)])
        event = deferred_event(request, until, decision.time_zone, decision.reason())
        deferred = SendOutcome(status="deferred", deferred_until=until, reason=decision.reason())
        carry = current_carry()
        while True:
            try:
                async with self.engine.begin() as conn:
                    if not await ledger.release(
                        conn, request.idempotency_key, token, f"deferred to {until.isoformat()}"
                    ):
                        raise ledger.ClaimLost(request.idempotency_key, "deferring")
                    events = [event] if carry is None else carry.around(deferred, [event])
                    await self.store.append_in(conn, events)
            except EventIdConflict:
                if carry is None:
                    raise
                carry = None  # the run's events go on their own, as before the carry (send_carry.py)
                continue
            if carry is not None:
                carry.appended(deferred)
            return deferred

    async def _call_provider(
        self,
        request: SendMessageInput,
        token: str,
        message: OutgoingMessage,
        locale: str,
        called: _ProviderCall,
    ) -> SendOutcome:
        key = request.idempotency_key
        # Right before the call: a paused attempt whose lease ran out stops here; from here on a
        # take-over looks the message up.
        async with self.engine.begin() as conn:
            if not await ledger.start_call(conn, key, token, self.claim_lease):
                raise ledger.ClaimLost(key, "calling the provider")
        called.started = True
        try:
            receipt = await self.senders[message.channel].send(message)
        except PermanentSendError as error:
            kind = "invalid_recipient" if error.invalid_recipient else "provider_refused"
            failed = SendOutcome(status="failed", channel=message.channel, reason=f"{kind}: {error.reason}")
            events = [outcome_event(request, failed, locale=locale, error_code=error.code)]
            if error.invalid_recipient:
                events.append(
                    suppression_added(
                        request.customer_id,
                        message.channel,
                        message.recipient,
                        kind,
                        "gridjourney.send",
                        suppression_event_id(key),
                    )
                )
            return await self._record(request, token, failed, events)
        except TransientSendError as error:
            await self._let_go(key, token, error, maybe_accepted=error.maybe_accepted)
            raise
        except BaseException as error:
            # Cancelled or crashed mid-call: the provider may have the message.
            await self._let_go(key, token, error, maybe_accepted=True)
            raise
        sent = SendOutcome(
            status="sent", channel=message.channel, provider_message_id=receipt.provider_message_id
        )
        event = outcome_event(request, sent, locale=locale, segments=receipt.segments)
        return await self._record(request, token, sent, [event])

    async def _let_go(self, key: str, token: str, error: BaseException, *, maybe_accepted: bool) -> None:
        """After a failed provider call. Best effort: if the database is down too, the lease runs
        out and the next attempt looks the message up anyway."""
        note = ledger_note(f"{type(error).__name__}: {error}")
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                if maybe_accepted:
                    await ledger.mark_ambiguous(conn, key, token, note, self.look_up_after)
                else:
                    await ledger.release(conn, key, token, note)

    # --- recording ---------------------------------------------------------------------------------
    async def _record(
        self, request: SendMessageInput, token: str, outcome: SendOutcome, events: list[NewEvent]
    ) -> SendOutcome:
        """The outcome's events and the ledger row in one transaction, retried through database
        outages for as long as it takes (the activity heartbeats meanwhile): a message the provider
        accepted is recorded as sent, never lost to a suppression."""
        key = request.idempotency_key
        delay = 0.1
        # A journey's own events ride along (activities/send_carry.py); not with a duplicate's record.
        carry = current_carry() if events else None
        while True:
            try:
                async with self.engine.begin() as conn:
                    done = await ledger.complete(
                        conn, key, token, outcome.status, outcome.channel, outcome.provider_message_id
                    )
                    if not done:
                        raise ledger.ClaimLost(key, f"recording {outcome.status}")
                    carried = events if carry is None else carry.around(outcome, events)
                    await self.store.append_in(conn, carried)
                if carry is not None:
                    carry.appended(outcome)
                return outcome
            except EventIdConflict:
                if carry is None:
                    raise
                carry = None  # the run's events go on their own, as before the carry
                continue
            except ledger.ClaimLost:
                # A commit whose answer was lost in an outage, then retried: the row is ours, done.
                row = await ledger.get(self.engine, key)
                if row is not None and row.owner == token and row.status == outcome.status:
                    return outcome
                raise
            except Exception as error:
                if outage(error) != "database":
                    raise
                log.warning("%s: cannot record %s yet (%s); retrying", key, outcome.status, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.record_retry_max.total_seconds())

    async def _recorded_outcome(self, key: str) -> SendOutcome | None:
        for status, event_type in OUTCOME_TYPES.items():
            event = await self.store.get(message_event_id(key, event_type))
            if event is not None:
                return outcome_from_event(status, event)
        return None

    async def _message(
        self, request: SendMessageInput, customer: CustomerRecord, channel: Channel, recipient: str
    ) -> SendOutcome | tuple[OutgoingMessage, str]:
        # the templates the run's version pinned (the folder's for a version from before pinning)
        templates = await self.version_templates.of(request.journey_id, request.journey_version)
        return outgoing_message(templates, request, customer, channel, recipient, self.status_callback_base)
