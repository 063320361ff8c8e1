"""The demo's compliance cases: one customer for each rule a message must pass, and how each is checked.

    email   welcome emails reach the SendGrid stand-in, with their unsubscribe link
    push    customers with the app get the DR notice as Web Push (decrypted at the push stand-in)
    stop    a customer on the outage's feeder replies STOP to its text: the restoration avoids SMS
    night   a customer for whom it is 22:00 now: the welcome waits for 08:00 their time
    cap     a welcome and four DR notices in a week to one customer (Peak Time Rewards, and three
            Critical Peak Pricing events for them alone): the policy caps informational SMS at 3 a week

The night's high-bill alert, sent at 09:00 after a whole night, is played on a time-skipping Temporal
server apart (demo/night.py): nobody waits eleven hours for a demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from gridjourney.channels.push_standin import PushStandIn, PushSubscriber
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings, public_base_url
from gridjourney.demo.grid_day import CRITICAL_PEAK, OUTAGE_FEEDER, RESTORED_TRANSFORMER
from gridjourney.demo.utility import (
    PEAK_TIME_REWARDS,
    SOURCE,
    DemoCustomer,
    customer_events,
    event_id,
    feeder_id,
    transformer_id,
    zone_at_local_hour,
)
from gridjourney.events.models import NewEvent
from gridjourney.policy.loader import policy_from_settings
from gridjourney.projections import queries
from gridjourney.projections.queries import MessageView

INBOUND_PATH = "/webhooks/twilio/inbound"
SENT = ("sent", "delivered")  # a delivery report may already have come back
# DR messages to the capped customer: the Peak Time Rewards notice, the notice that the VTN moved that
# event (demo/grid_play.py move_dr_event), and three Critical Peak Pricing notices. The policy lets
# 3 informational SMS a week through.
CAPPED_NOTICES = 5
AWAY = (transformer_id(1, 2), feeder_id(1))  # far from the outages


@dataclass(frozen=True)
class Providers:
    """The stand-ins the demo's messages reach, and the API a customer's SMS reply is posted to."""

    sms: TwilioStandIn
    email: SendGridStandIn
    push: PushStandIn
    api: httpx.AsyncClient


@dataclass(frozen=True)
class CaseResult:
    case: str
    customer: str
    expected: str
    observed: str
    passed: bool


@dataclass
class ComplianceCases:
    night: DemoCustomer
    stop: DemoCustomer
    cap: DemoCustomer
    push: list[DemoCustomer]
    subscribers: dict[str, PushSubscriber]

    @property
    def customers(self) -> list[DemoCustomer]:
        return [self.night, self.stop, self.cap, *self.push]


def special_customer(
    customer_id: str,
    name: str,
    zone: str,
    *,
    email: bool = True,
    grid: tuple[str, str] = AWAY,
    programs: tuple[str, ...] = (),
) -> DemoCustomer:
    """`grid`: (transformer, feeder) of the customer's premise."""
    number = 200 + sum(map(ord, customer_id)) % 100
    return DemoCustomer(
        customer_id=customer_id,
        name=name,
        phone=f"+1312555{number:04d}",
        email=f"{customer_id.lower()}@example.com",
        locale="en",
        time_zone=zone,
        sms_consent=True,
        email_consent=email,
        segment="evening_peak",
        premise_id=f"P-{customer_id.removeprefix('C-')}",
        transformer_id=grid[0],
        feeder_id=grid[1],
        programs=programs,
    )


def compliance_cases(now: datetime, daytime_zone: str, push: PushStandIn, vapid_key: str) -> ComplianceCases:
    push_customers = [
        special_customer(f"C-PUSH-{n}", f"Pat App{n}", daytime_zone, programs=(PEAK_TIME_REWARDS,))
        for n in (1, 2)
    ]
    return ComplianceCases(
        night=special_customer("C-NIGHT", "Nora Night", zone_at_local_hour(22, now)),
        # on the transformer whose premises get power back first
        stop=special_customer("C-STOP", "Sam Stop", daytime_zone, grid=(RESTORED_TRANSFORMER, OUTAGE_FEEDER)),
        # no email consent: a capped SMS cannot fall back to email, so the cap shows
        cap=special_customer(
            "C-CAP", "Cam Cap", daytime_zone, email=False, programs=(PEAK_TIME_REWARDS, CRITICAL_PEAK)
        ),
        push=push_customers,
        subscribers={c.customer_id: push.new_subscriber(vapid_key) for c in push_customers},
    )


def sign_up_events(cases: ComplianceCases, now: datetime) -> list[NewEvent]:
    events = [event for customer in cases.customers for event in customer_events(customer, now)]
    for customer_id, subscriber in cases.subscribers.items():
        keys = subscriber.subscription()["keys"]
        # the app asked whether it may notify: the customer said yes (consent is per channel)
        events.append(
            NewEvent(
                event_id=event_id("consent", customer_id, "push", "informational"),
                type="consent.changed",
                customer_id=customer_id,
                occurred_at=now,
                source=SOURCE,
                payload={"channel": "push", "purpose": "informational", "granted": True, "method": "app"},
            )
        )
        events.append(
            NewEvent(
                event_id=event_id("push.subscribed", customer_id),
                type="push.subscribed",
                customer_id=customer_id,
                occurred_at=now,
                source=SOURCE,
                payload={"endpoint": subscriber.endpoint, "p256dh": keys["p256dh"], "auth": keys["auth"]},
            )
        )
    return events


async def notice_went_out(engine: AsyncEngine, cases: ComplianceCases) -> bool:
    """The STOP case's outage text has been sent: the customer can reply to it."""
    found = await messages_of(engine, cases.stop.customer_id)
    return any(m.step_id == "notice" and m.status in SENT for m in found)


async def reply_stop(settings: Settings, providers: Providers, customer: DemoCustomer) -> httpx.Response:
    """The customer texts STOP: Twilio's signed webhook, as the README's curl posts it (the answer
    is TwiML with the policy's confirmation)."""
    params = {
        "From": customer.phone,
        "To": policy_from_settings(settings).senders.sms.from_number,
        "Body": "STOP",
        "MessageSid": f"SM{event_id('stop', customer.customer_id).hex}",
    }
    url = f"{public_base_url(settings)}{INBOUND_PATH}"
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(url, params)
    return await providers.api.post(INBOUND_PATH, data=params, headers={"X-Twilio-Signature": signature})


async def messages_of(engine: AsyncEngine, customer_id: str) -> list[MessageView]:
    async with engine.connect() as conn:
        return await queries.list_messages(conn, customer_id=customer_id, limit=50)


def local_clock(moment: datetime | None, zone: str) -> str:
    return "-" if moment is None else f"{moment.astimezone(ZoneInfo(zone)):%H:%M} {zone}"


async def check_cases(engine: AsyncEngine, cases: ComplianceCases, providers: Providers) -> list[CaseResult]:
    """Where each case stands now (the runner polls until all pass or time is up)."""
    return [
        _email_case(providers),
        await _push_case(engine, cases, providers),
        await _stop_case(engine, cases),
        await _night_case(engine, cases),
        await _cap_case(engine, cases),
    ]


def _email_case(providers: Providers) -> CaseResult:
    received = providers.email.received
    with_link = [email for email in received if "List-Unsubscribe" in email.headers]
    delivered = sum("delivered" in email.events for email in received)
    return CaseResult(
        "email",
        f"{len(received)} customers",
        "welcome emails, one-click unsubscribe",
        f"{len(received)} sent, {len(with_link)} with the link, {delivered} delivered",
        bool(received) and len(with_link) == len(received),
    )


async def _push_case(engine: AsyncEngine, cases: ComplianceCases, providers: Providers) -> CaseResult:
    titles: list[str] = []
    on_push = 0
    for customer in cases.push:
        on_push += sum(
            m.channel == "push" and m.status in SENT and m.template == "dr_day_ahead"
            for m in await messages_of(engine, customer.customer_id)
        )
        for push in providers.push.received_by(cases.subscribers[customer.customer_id]):
            payload = json.loads(cases.subscribers[customer.customer_id].decrypt(push.body))
            titles.append(str(payload.get("title")))
    return CaseResult(
        "push",
        ", ".join(c.customer_id for c in cases.push),
        "DR notice by Web Push, not SMS",
        f"{on_push} by push, decrypted: {titles[0] if titles else '-'}",
        on_push == len(cases.push) and len(titles) >= len(cases.push),
    )


async def _stop_case(engine: AsyncEngine, cases: ComplianceCases) -> CaseResult:
    found = {m.step_id: m for m in await messages_of(engine, cases.stop.customer_id) if m.step_id}
    notice, restored = found.get("notice"), found.get("restored")
    observed = (
        f"notice by {notice.channel if notice else '-'}; STOP; "
        f"restored by {restored.channel if restored else '-'}"
    )
    passed = (
        notice is not None
        and notice.status in SENT
        and notice.channel == "sms"
        and restored is not None
        and restored.status in SENT
        and restored.channel != "sms"
    )
    return CaseResult(
        "STOP reply",
        cases.stop.customer_id,
        "outage text; STOP; restored not by SMS",
        observed,
        passed,
    )


async def _night_case(engine: AsyncEngine, cases: ComplianceCases) -> CaseResult:
    zone = cases.night.time_zone
    welcome = next(
        (m for m in await messages_of(engine, cases.night.customer_id) if m.step_id == "welcome"), None
    )
    until = welcome.deferred_until if welcome else None
    local_until = until.astimezone(ZoneInfo(zone)) if until else None
    return CaseResult(
        "quiet hours",
        cases.night.customer_id,
        "22:xx welcome deferred to 08:00",
        f"{welcome.status if welcome else 'no welcome'} until {local_clock(until, zone)}",
        welcome is not None
        and welcome.status == "deferred"
        and local_until is not None
        and (local_until.hour, local_until.minute) == (8, 0),
    )


async def _cap_case(engine: AsyncEngine, cases: ComplianceCases) -> CaseResult:
    found = await messages_of(engine, cases.cap.customer_id)
    sms_sent = sum(m.status in SENT and m.channel == "sms" for m in found)
    capped = [m for m in found if m.status == "suppressed" and "frequency_cap" in (m.reason or "")]
    expected_capped = 1 + CAPPED_NOTICES - 3  # the welcome and the DR messages, beyond 3 a week
    return CaseResult(
        "frequency cap",
        cases.cap.customer_id,
        f"{1 + CAPPED_NOTICES} SMS a week: 3 sent, {expected_capped} capped",
        f"{sms_sent} sent, {len(capped)} capped" + (f": {_cap_reason(capped[0].reason)}" if capped else ""),
        sms_sent == 3 and len(capped) == expected_capped,
    )


def _cap_reason(reason: str | None) -> str:
    """The SMS part of a suppression reason: `frequency_cap (3 informational sms in 7d)`."""
    parts = [part.strip() for part in (reason or "").split(";")]
    return next((part.removeprefix("sms: ") for part in parts if part.startswith("sms:")), reason or "")
