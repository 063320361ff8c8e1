"""The customers as the projections would have held them at each moment of a backtest: profiles and
attributes, consents, suppressed addresses, push subscriptions, and the messages counted by frequency
caps. Folded in memory from the log's events, in order, with the projections' rules
(projections/customers.py, consents.py, suppressions.py, push_subscriptions.py), so a backtest needs
no database writes."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridjourney.activities.context import CustomerRecord
from gridjourney.activities.eligibility import CONSENT_REVOKED, SUPPRESSED_ADDRESS, Facts
from gridjourney.dsl.schema import Purpose
from gridjourney.events.models import StoredEvent
from gridjourney.inbound.twilio_inbound import STOP_REASON
from gridjourney.policy import caps
from gridjourney.policy.model import FrequencyCap, Policy
from gridjourney.privacy.address_hash import ANYONE, held_suppressions
from gridjourney.projections.consents import in_effect_from, supersedes
from gridjourney.projections.customers import GRID_FIELDS, PERSONAL_FIELDS, PROFILE_FIELDS

STATE_EVENT_TYPES = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.erased",
        "consent.changed",
        "suppression.added",
        "suppression.removed",
        "push.subscribed",
        "push.unsubscribed",
    }
)
# A cohort's audience also reads program enrolments (projections/programs.py).
PROGRAM_EVENT_TYPES = frozenset({"program.enrolled", "program.unenrolled"})
# How a STOP reply shows in the log: consent revoked by SMS reply (inbound/), the number suppressed by
# it (for a later holder of the number, the suppression kept for anyone is all that is left of it),
# or the carrier's opt-out.
STOP_METHODS = frozenset({"sms_reply"})
STOP_SUPPRESSIONS = frozenset({"carrier_opt_out", "stop", STOP_REASON})
STOP = "stop"


@dataclass
class CustomerState:
    record: CustomerRecord
    consents: dict[tuple[str, str], bool] = field(default_factory=dict)
    consent_methods: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # (in force from, position) of the change in force per key: a later-arriving but older change
    # does not replace it (projections/consents.py)
    consent_order: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], str] = field(default_factory=dict)
    push_endpoints: list[str] = field(default_factory=list)
    profiled: bool = False  # a customer.created or customer.updated made them a row of `customers`
    erased: bool = False
    programs: set[str] = field(default_factory=set)  # current enrolments (customer_programs)


class Customers:
    def __init__(self) -> None:
        self._states: dict[str, CustomerState] = {}
        # (at, purpose, channel) of every message counted by caps: other journeys' (the send ledger)
        # and the backtest's own
        self._sends: dict[str, list[tuple[datetime, str, str]]] = {}
        # the events of the moment being replayed, by (append, customer or None); the types folded
        # here; and the events a routed event took ahead of the log's order (`fold_append`)
        self._moment: dict[tuple[datetime, str | None], list[StoredEvent]] = {}
        self._fold_types: Collection[str] = ()
        self._folded_early: set[uuid.UUID] = set()
        # positions of the log's consent changes that did not apply on arrival (projections/
        # consents.py `not_applied_in_log`): the consents table never held them, so neither does
        # the fold, though the replay meets them in the order they occurred, not arrived
        self.not_applied: Collection[int] = frozenset()

    def hold_moment(
        self, events: Iterable[StoredEvent], fold_types: Collection[str], *, by_customer: bool
    ) -> None:
        """The events that occurred at the moment about to be replayed, for `fold_append`; those of
        `fold_types` are folded here."""
        self._moment, self._fold_types, self._folded_early = {}, fold_types, set()
        for event in events:
            key = (event.recorded_at, event.customer_id if by_customer else None)
            self._moment.setdefault(key, []).append(event)

    def fold_append(self, routed: StoredEvent, customer_id: str | None = None) -> list[StoredEvent]:
        """`routed` is handled: the router waited for the projections to fold its whole append
        (router/router.py `_projections_reach`), so the events appended with it at the same moment
        count already, even those the log orders after it (a customer.created posted with its
        consent.changed). One the batch dates later counts from its own time, as the replay's clock
        is the events' time: a log imported in bulk must not show a customer's year at once.
        The events taken ahead (the caller folds them into its other projections, as history)."""
        taken = []
        for event in self._moment.get((routed.recorded_at, customer_id), []):
            if event.position > routed.position and event.event_id not in self._folded_early:
                if event.type in self._fold_types:
                    self.apply(event)
                self._folded_early.add(event.event_id)
                taken.append(event)
        return taken

    def folded_early(self, event: StoredEvent) -> bool:
        """Whether a routed event took `event` ahead of the log's order (fold it no more)."""
        return event.event_id in self._folded_early

    def get(self, customer_id: str) -> CustomerState | None:
        return self._states.get(customer_id)

    def apply(self, event: StoredEvent) -> None:
        """One state event (STATE_EVENT_TYPES, PROGRAM_EVENT_TYPES); other types change nothing."""
        if event.customer_id is None or event.event_id in self._folded_early:
            return
        if event.position in self.not_applied:
            return
        if event.type in ("customer.created", "customer.updated"):
            self._profile(event.customer_id, event.type, event.payload)
            return
        state = self._states.get(event.customer_id)
        if state is None:
            state = self._states[event.customer_id] = CustomerState(
                CustomerRecord(customer_id=event.customer_id)
            )
        payload = event.payload
        if event.type == "customer.erased":
            state.record = state.record.model_copy(update={name: None for name in PERSONAL_FIELDS})
            state.erased = True
            state.programs.clear()
        elif event.type == "program.enrolled":
            state.programs.add(str(payload["program"]))
        elif event.type == "program.unenrolled":
            state.programs.discard(str(payload["program"]))
        elif event.type == "consent.changed":
            key = (payload["channel"], payload["purpose"])
            order = (in_effect_from(event.occurred_at, event.recorded_at), event.position)
            if not supersedes(order, state.consent_order.get(key)):
                return  # older than the change in force: logged, not applied, as the projection does
            state.consent_order[key] = order
            state.consents[key] = bool(payload["granted"])
            state.consent_methods[key] = payload.get("method")
        elif event.type == "suppression.added":
            state.suppressed[(payload["channel"], payload["address"])] = payload["reason"]
        elif event.type == "suppression.removed":
            state.suppressed.pop((payload["channel"], payload["address"]), None)
        elif event.type == "push.subscribed" and payload["endpoint"] not in state.push_endpoints:
            state.push_endpoints.append(payload["endpoint"])
        elif event.type == "push.unsubscribed" and payload["endpoint"] in state.push_endpoints:
            state.push_endpoints.remove(payload["endpoint"])

    def _profile(self, customer_id: str, event_type: str, payload: dict[str, Any]) -> None:
        state = self._states.get(customer_id)
        fields = {name: payload.get(name) for name in PROFILE_FIELDS + GRID_FIELDS}
        attributes = payload.get("attributes") or {}
        if state is None:
            state = self._states[customer_id] = CustomerState(CustomerRecord(customer_id=customer_id))
        current = state.record
        if event_type == "customer.created":
            # customer.created states the whole profile (with its defaults); updated, what it names
            changes = dict(fields)
            changes["locale"] = fields["locale"] or "en"
            changes["time_zone"] = fields["time_zone"] or "UTC"
        else:
            changes = {name: value for name, value in fields.items() if value is not None}
        merged = {**current.attributes, **attributes}
        changes["attributes"] = {key: value for key, value in merged.items() if value is not None}
        state.record = current.model_copy(update=changes)
        state.profiled = True

    def all(self) -> list[CustomerState]:
        """Every customer folded so far, in customer id order (a cohort audience's order)."""
        return [self._states[customer_id] for customer_id in sorted(self._states)]

    def set_attribute(self, customer_id: str, name: str, value: Any) -> None:
        """An `update` step's write (the engine appends customer.updated; here it is folded at once)."""
        state = self._states.get(customer_id)
        if state is None:
            return
        attributes = {**state.record.attributes, name: value}
        if value is None:
            attributes.pop(name)
        state.record = state.record.model_copy(update={"attributes": attributes})

    def record_send(self, customer_id: str, at: datetime, purpose: str, channel: str) -> None:
        self._sends.setdefault(customer_id, []).append((at, purpose, channel))

    def suppressed(self, state: CustomerState) -> dict[tuple[str, str], str]:
        """The customer's suppressed addresses as projections/suppressions.py `suppressed_addresses`
        gives them: their own, and their phone and email when suppressed for anyone who holds them (a
        STOP kept as a keyed hash after its holder's erasure, or from a number no customer had)."""
        anyone = self._states.get(ANYONE)
        if anyone is None or not anyone.suppressed:
            return state.suppressed
        record = state.record
        held = [
            (channel, address)
            for channel, address in (("sms", record.phone), ("email", record.email))
            if address
        ]
        return {**state.suppressed, **held_suppressions(held, anyone.suppressed)}

    def facts(self, policy: Policy, state: CustomerState, purpose: Purpose, now: datetime) -> Facts:
        """What activities/eligibility.py `gather` reads from the database, from the fold. Outages are
        not replayed: a backtest never refuses for `active_outage`."""
        rules = policy.rules(purpose)
        counts: dict[FrequencyCap, int] = {}
        sends = self._sends.get(state.record.customer_id, [])
        if "frequency_caps" not in rules.exempt_from:
            for cap in rules.caps:
                since = caps.window_start(cap, now)
                counted = caps.counted_channel(cap)
                counts[cap] = sum(
                    1
                    for at, sent_purpose, channel in sends
                    if since <= at <= now
                    and sent_purpose == purpose
                    and (counted is None or channel == counted)
                )
        return Facts(
            consents=state.consents,
            suppressed=self.suppressed(state),
            push_endpoints=state.push_endpoints,
            cap_counts=counts,
        )


def refusal_reason(state: CustomerState, facts: Facts, channel: str, purpose: str, code: str) -> str:
    """The eligibility code, with a STOP reply (or the carrier's opt-out) told apart as `stop`."""
    if code == CONSENT_REVOKED and state.consent_methods.get((channel, purpose)) in STOP_METHODS:
        return STOP
    if code == SUPPRESSED_ADDRESS and any(
        reason in STOP_SUPPRESSIONS for (ch, _), reason in facts.suppressed.items() if ch == channel
    ):
        return STOP
    return code
