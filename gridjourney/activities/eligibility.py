"""Whether a message may go out now, and on which channel: the compliance policy applied to one send.

The order (issue 7, part 5):
  1. per channel, in the step's order: a sender for it → consent per the policy's rule for the
     purpose (an explicit revocation always wins) → the suppression list → a contact point;
  2. for the message: quiet hours (the purpose's sending hours ∩ the step's, in the customer's zone);
     outside them it is deferred to the next allowed minute, never dropped;
  3. per channel left: frequency caps, counted from the send ledger across all journeys;
  4. the first channel left wins.
Before all of these: a customer whose premise is in an active outage (incidents/queries.py) gets no
marketing or informational message (`active_outage`); safety messages are never refused by it.
Exempt purposes (policy `exempt_from`) skip quiet hours and caps. Each refusal is a stable snake_case
code with an optional detail: `sms: frequency_cap (3 informational sms in 7d)`.

`decide` reads everything it needs in one place (`gather`; `gather_many` for a cohort batch, the same
facts in a few queries), then `judge` decides without I/O. The caller (activities/send.py,
activities/send_batch.py) runs it in the transaction that holds `ledger.lock_customer` and
reserves the chosen channel, so concurrent decisions for one customer see each other's reservations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.activities import ledger
from gridjourney.activities.context import CustomerRecord
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.incidents.queries import customers_without_power
from gridjourney.policy import caps
from gridjourney.policy.model import FrequencyCap, Policy, PurposeRules, TimeWindow
from gridjourney.policy.quiet_hours import intersect, next_allowed, parse_windows, zone_for
from gridjourney.projections.push_subscriptions import endpoints_of_many, subscriptions_of
from gridjourney.projections.queries import consents_of_many, list_consents
from gridjourney.projections.suppressions import suppressed_addresses, suppressed_addresses_of_many
from gridjourney.workflows.contracts import SendMessageInput

ELIGIBLE = "eligible"
CHANNEL_NOT_CONFIGURED = "channel_not_configured"
NO_CONSENT = "no_consent"
CONSENT_REVOKED = "consent_revoked"
SUPPRESSED_ADDRESS = "suppressed_address"
NO_CONTACT_POINT = "no_contact_point"
QUIET_HOURS = "quiet_hours"
NO_SENDING_HOURS = "no_sending_hours"
FREQUENCY_CAP = caps.FREQUENCY_CAP
ACTIVE_OUTAGE = "active_outage"
# Purposes an active outage at the customer's premise refuses: the outage notices themselves are safety.
REFUSED_IN_OUTAGE: frozenset[str] = frozenset({"marketing", "informational"})


@dataclass(frozen=True)
class ChannelDecision:
    channel: Channel
    code: str  # ELIGIBLE or the refusal: stable, recorded in events
    detail: str | None = None  # for people: which cap, which suppression, until when

    @property
    def eligible(self) -> bool:
        return self.code == ELIGIBLE

    def __str__(self) -> str:
        return f"{self.code} ({self.detail})" if self.detail else self.code


@dataclass(frozen=True)
class SendDecision:
    channel: Channel | None  # the first eligible channel; None: nothing may be sent now
    recipient: str | None  # its contact point (push: the first subscription's endpoint)
    deferred_until: datetime | None  # quiet hours: the next allowed moment (UTC aware)
    time_zone: str  # the zone quiet hours were judged in
    checked: list[ChannelDecision]  # every channel tried, with its reason

    def reason(self) -> str:
        """E.g. `sms: consent_revoked; email: frequency_cap (2 marketing email in 7d)`."""
        return "; ".join(f"{d.channel}: {d}" for d in self.checked)


@dataclass(frozen=True)
class Facts:
    """What the decision reads from the database about the customer, at one moment."""

    consents: Mapping[tuple[str, str], bool] = field(default_factory=dict)  # (channel, purpose) → granted
    suppressed: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (channel, address) → reason
    push_endpoints: Sequence[str] = ()  # the customer's push subscriptions, oldest first
    cap_counts: Mapping[FrequencyCap, int] = field(default_factory=dict)  # messages counted per cap
    without_power: bool = False  # the premise is in an outage that is not over


async def decide(
    conn: AsyncConnection,
    policy: Policy,
    customer: CustomerRecord,
    request: SendMessageInput,
    available_channels: Collection[Channel],
    now: datetime,
) -> SendDecision:
    facts = await gather(conn, policy, customer.customer_id, request.purpose, now, request.channels)
    return judge(policy, customer, request, available_channels, now, facts)


async def gather(
    conn: AsyncConnection,
    policy: Policy,
    customer_id: str,
    purpose: Purpose,
    now: datetime,
    channels: Collection[Channel] | None = None,
) -> Facts:
    """Every database read of a decision. Cap counts are read for every cap of the purpose (a few),
    whichever channel ends up being judged. `channels`: the step's; push subscriptions are read only
    when push is one of them (None: every channel may be judged)."""
    consents = {(c.channel, c.purpose): c.granted for c in await list_consents(conn, customer_id)}
    rules = policy.rules(purpose)
    counts: dict[FrequencyCap, int] = {}
    if "frequency_caps" not in rules.exempt_from:
        for cap in rules.caps:
            since = caps.window_start(cap, now)
            counted = caps.counted_channel(cap)
            counts[cap] = await ledger.count_reserved(conn, customer_id, purpose, counted, since)
    return Facts(
        consents=consents,
        suppressed=await suppressed_addresses(conn, customer_id),
        push_endpoints=[s.endpoint for s in await subscriptions_of(conn, customer_id)]
        if channels is None or "push" in channels
        else [],
        cap_counts=counts,
        without_power=purpose in REFUSED_IN_OUTAGE
        and customer_id in await customers_without_power(conn, [customer_id], now),
    )


async def gather_many(
    conn: AsyncConnection, policy: Policy, customer_ids: Sequence[str], purpose: Purpose, now: datetime
) -> dict[str, Facts]:
    """`gather` for many customers (a cohort batch) in a few queries: the same facts per customer."""
    rules = policy.rules(purpose)
    counts: dict[FrequencyCap, dict[str, int]] = {}
    if "frequency_caps" not in rules.exempt_from:
        for cap in rules.caps:
            since = caps.window_start(cap, now)
            counted = caps.counted_channel(cap)
            counts[cap] = await ledger.count_reserved_many(conn, customer_ids, purpose, counted, since)
    consents = await consents_of_many(conn, customer_ids, purpose)
    suppressed = await suppressed_addresses_of_many(conn, customer_ids)
    endpoints = await endpoints_of_many(conn, customer_ids)
    # A purpose the rule never refuses (safety) does not ask.
    without_power = (
        await customers_without_power(conn, customer_ids, now) if purpose in REFUSED_IN_OUTAGE else set()
    )
    return {
        customer_id: Facts(
            consents=consents.get(customer_id, {}),
            suppressed=suppressed.get(customer_id, {}),
            push_endpoints=endpoints.get(customer_id, []),
            cap_counts={cap: counted.get(customer_id, 0) for cap, counted in counts.items()},
            without_power=customer_id in without_power,
        )
        for customer_id in customer_ids
    }


def judge(
    policy: Policy,
    customer: CustomerRecord,
    request: SendMessageInput,
    available_channels: Collection[Channel],
    now: datetime,
    facts: Facts,
) -> SendDecision:
    """The decision from the facts alone (no I/O)."""
    purpose = request.purpose
    rules = policy.rules(purpose)
    zone = zone_for(customer.time_zone, policy.default_time_zone)
    decided: dict[Channel, ChannelDecision] = {}
    reachable: dict[Channel, str] = {}  # channels that passed the channel checks → recipient
    if facts.without_power and purpose in REFUSED_IN_OUTAGE:
        outage = {c: ChannelDecision(c, ACTIVE_OUTAGE, "the premise has no power") for c in request.channels}
        return SendDecision(None, None, None, zone, list(outage.values()))
    for channel in request.channels:
        refusal, recipient = _channel_check(rules, customer, channel, purpose, available_channels, facts)
        if refusal is not None:
            decided[channel] = refusal
        elif recipient is not None:
            reachable[channel] = recipient

    def result(
        channel: Channel | None = None, deferred_until: datetime | None = None, last: Channel | None = None
    ) -> SendDecision:
        tried = request.channels if last is None else request.channels[: request.channels.index(last) + 1]
        checked = [decided[c] for c in dict.fromkeys(tried) if c in decided]
        recipient = reachable.get(channel) if channel is not None else None
        return SendDecision(channel, recipient, deferred_until, zone, checked)

    if not reachable:
        return result()
    if "quiet_hours" not in rules.exempt_from:
        windows = _sending_hours(rules, request)
        if not windows:
            detail = f"the step's {_text(parse_windows(request.sending_hours or []))} lies outside "
            detail += f"{purpose} hours {_text(rules.sending_hours)}"
            decided |= {c: ChannelDecision(c, NO_SENDING_HOURS, detail) for c in reachable}
            return result()
        until = next_allowed(now, zone, windows)
        if until is not None:
            detail = f"until {until.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"
            decided |= {c: ChannelDecision(c, QUIET_HOURS, detail) for c in reachable}
            return result(deferred_until=until)
    for channel in reachable:
        cap = caps.reached(rules, purpose, channel, facts.cap_counts)
        if cap is not None:
            decided[channel] = ChannelDecision(channel, FREQUENCY_CAP, caps.describe(cap, purpose))
            continue
        decided[channel] = ChannelDecision(channel, ELIGIBLE)
        return result(channel, last=channel)
    return result()


def _channel_check(
    rules: PurposeRules,
    customer: CustomerRecord,
    channel: Channel,
    purpose: Purpose,
    available_channels: Collection[Channel],
    facts: Facts,
) -> tuple[ChannelDecision | None, str | None]:
    """(the refusal, None) or (None, the recipient)."""
    if channel not in available_channels:
        return ChannelDecision(channel, CHANNEL_NOT_CONFIGURED), None
    granted = facts.consents.get((channel, purpose))
    if granted is False:  # an explicit revocation wins over every rule
        return ChannelDecision(channel, CONSENT_REVOKED), None
    if granted is None and rules.consent == "opt_in":
        return ChannelDecision(channel, NO_CONSENT), None
    addresses = _contact_points(customer, channel, facts)
    open_addresses = [a for a in addresses if (channel, a) not in facts.suppressed]
    if addresses and not open_addresses:
        return ChannelDecision(channel, SUPPRESSED_ADDRESS, facts.suppressed[(channel, addresses[0])]), None
    if not open_addresses:
        detail = "no push subscription" if channel == "push" else None
        return ChannelDecision(channel, NO_CONTACT_POINT, detail), None
    return None, open_addresses[0]


def _contact_points(customer: CustomerRecord, channel: Channel, facts: Facts) -> list[str]:
    if channel == "sms":
        return [customer.phone] if customer.phone else []
    if channel == "email":
        return [customer.email] if customer.email else []
    return list(facts.push_endpoints)


def _sending_hours(rules: PurposeRules, request: SendMessageInput) -> list[TimeWindow]:
    if not request.sending_hours:
        return list(rules.sending_hours)
    return intersect(rules.sending_hours, parse_windows(request.sending_hours))


def _text(windows: Sequence[TimeWindow]) -> str:
    return ", ".join(str(w) for w in windows)
