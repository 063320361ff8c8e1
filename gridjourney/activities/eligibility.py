"""Which channel a message may go out on: the first eligible one in the step's order.

Each channel runs through the checks in CHANNEL_CHECKS in order; the first check that objects gives
the channel's reason, and every channel tried is reported, so a suppression says why each channel
was refused. The compliance policy of the next issue (suppression lists, quiet hours, frequency caps)
adds checks to that list; quiet hours will defer rather than refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.context import CustomerRecord
from gridjourney.db.tables import consents
from gridjourney.dsl.schema import Channel, Purpose

ELIGIBLE = "eligible"


@dataclass(frozen=True)
class Consents:
    """The customer's consent rows: (channel, purpose) → granted."""

    granted: dict[tuple[str, str], bool]

    def get(self, channel: Channel, purpose: Purpose) -> bool | None:
        return self.granted.get((channel, purpose))


@dataclass(frozen=True)
class CheckInput:
    customer: CustomerRecord
    channel: Channel
    purpose: Purpose
    consents: Consents
    available_channels: Collection[Channel]


# A check returns None when it has no objection, else the reason (snake_case, stable: it is recorded).
Check = Callable[[CheckInput], str | None]


def contact_point(customer: CustomerRecord, channel: Channel) -> str | None:
    """Where a message on this channel goes. Push needs a device token registered as the
    `push_token` attribute (device registration is not modelled yet)."""
    if channel == "sms":
        return customer.phone or None
    if channel == "email":
        return customer.email or None
    token = customer.attributes.get("push_token")
    return token if isinstance(token, str) and token else None


def check_sender(item: CheckInput) -> str | None:
    return None if item.channel in item.available_channels else "channel_not_configured"


def check_consent(item: CheckInput) -> str | None:
    granted = item.consents.get(item.channel, item.purpose)
    if granted is True:
        return None
    if granted is False:
        return "consent_revoked"
    # TCPA: messages closely related to the service (outages, safety) may rely on the customer
    # having given the number; an explicit revocation above still wins.
    if item.purpose == "safety":
        return None
    return "no_consent"


def check_contact(item: CheckInput) -> str | None:
    return None if contact_point(item.customer, item.channel) else "no_contact_point"


CHANNEL_CHECKS: list[Check] = [check_sender, check_consent, check_contact]


@dataclass(frozen=True)
class ChannelDecision:
    channel: Channel
    reason: str  # ELIGIBLE or the first objection

    @property
    def eligible(self) -> bool:
        return self.reason == ELIGIBLE


@dataclass(frozen=True)
class EligibilityDecision:
    channel: Channel | None
    recipient: str | None
    checked: list[ChannelDecision]

    def reason(self) -> str:
        """E.g. `sms: no_consent; email: no_contact_point`."""
        return "; ".join(f"{d.channel}: {d.reason}" for d in self.checked)


def decide(
    customer: CustomerRecord,
    channels: Sequence[Channel],
    purpose: Purpose,
    customer_consents: Consents,
    available_channels: Collection[Channel],
    checks: Sequence[Check] = CHANNEL_CHECKS,
) -> EligibilityDecision:
    checked: list[ChannelDecision] = []
    for channel in channels:
        item = CheckInput(customer, channel, purpose, customer_consents, available_channels)
        objection = next((reason for check in checks if (reason := check(item)) is not None), None)
        checked.append(ChannelDecision(channel, objection or ELIGIBLE))
        if objection is None:
            return EligibilityDecision(channel, contact_point(customer, channel), checked)
    return EligibilityDecision(None, None, checked)


async def load_consents(engine: AsyncEngine, customer_id: str) -> Consents:
    query = select(consents.c.channel, consents.c.purpose, consents.c.granted).where(
        consents.c.customer_id == customer_id
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return Consents({(channel, purpose): granted for channel, purpose, granted in rows})


async def eligible_channel(
    engine: AsyncEngine,
    customer: CustomerRecord,
    channels: Sequence[Channel],
    purpose: Purpose,
    available_channels: Collection[Channel],
) -> EligibilityDecision:
    customer_consents = await load_consents(engine, customer.customer_id)
    return decide(customer, channels, purpose, customer_consents, available_channels)
