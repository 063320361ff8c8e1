"""A small synthetic utility: customers with time zones, languages, contact points and consent.

Seeded, so the same seed gives the same customers and the same events (and ids) every time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime

from gridjourney.events.models import NewEvent

SOURCE = "demo"
ZONES = ("America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Phoenix")
FIRST_NAMES = (
    "Ana",
    "Ben",
    "Carmen",
    "Dev",
    "Elena",
    "Frank",
    "Grace",
    "Hugo",
    "Ines",
    "Jamal",
    "Kim",
    "Luis",
)
LAST_NAMES = ("Garcia", "Smith", "Nguyen", "Johnson", "Martinez", "Brown", "Lopez", "Davis", "Patel", "Kim")
NAMESPACE = uuid.UUID("5b0c6a1e-8a51-4d8e-9a62-0f3f3c0d9e11")


def event_id(*parts: object) -> uuid.UUID:
    """A stable event id: replaying the demo appends nothing twice."""
    return uuid.uuid5(NAMESPACE, ":".join(str(part) for part in parts))


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    name: str
    phone: str
    email: str
    locale: str
    time_zone: str
    sms_consent: bool
    email_consent: bool
    segment: str


def make_customers(count: int, seed: int = 7) -> list[DemoCustomer]:
    rng = random.Random(seed)
    customers = []
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customers.append(
            DemoCustomer(
                customer_id=f"C{n:05d}",
                name=f"{first} {last}",
                # 555-01xx numbers are reserved for fiction.
                phone=f"+1{rng.choice(('503', '303', '312', '212', '602'))}5550{100 + n % 100:03d}",
                email=f"{first.lower()}.{last.lower()}.{n}@example.com",
                locale="es" if rng.random() < 0.25 else "en",
                time_zone=rng.choice(ZONES),
                sms_consent=rng.random() < 0.8,
                email_consent=rng.random() < 0.9,
                segment=rng.choice(("evening_peak", "ev_charging", "solar_export", "flat")),
            )
        )
    return customers


def customer_events(customer: DemoCustomer, at: datetime) -> list[NewEvent]:
    """customer.created, then the consent the customer gave at sign-up."""
    events = [
        NewEvent(
            event_id=event_id("customer.created", customer.customer_id),
            type="customer.created",
            customer_id=customer.customer_id,
            occurred_at=at,
            source=SOURCE,
            payload={
                "name": customer.name,
                "phone": customer.phone,
                "email": customer.email,
                "locale": customer.locale,
                "time_zone": customer.time_zone,
                "attributes": {"segment": customer.segment, "scores": {"dr_propensity": 0.5}},
            },
        )
    ]
    for channel, granted in (("sms", customer.sms_consent), ("email", customer.email_consent)):
        for purpose in ("marketing", "informational"):
            events.append(
                NewEvent(
                    event_id=event_id("consent", customer.customer_id, channel, purpose),
                    type="consent.changed",
                    customer_id=customer.customer_id,
                    occurred_at=at,
                    source=SOURCE,
                    payload={"channel": channel, "purpose": purpose, "granted": granted, "method": "web"},
                )
            )
    return events
