"""A small synthetic utility: customers with time zones, languages, contact points and consent, a place
on the grid (premise, transformer, feeder) and, for a share of them, Peak Time Rewards enrolment.

Seeded, so the same seed gives the same customers and the same events (and ids) every time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from gridjourney.events.models import NewEvent

SOURCE = "demo"
US_ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Phoenix",
    "Pacific/Honolulu",
)
# When it is night across the US, the demo's customers live where it is day: the demo must show the
# journeys' daytime behaviour whatever the hour it runs at (quiet hours are shown on purpose, apart).
WORLD_ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
# One real zone for most whole-hour offsets, so the quiet-hours case can find "22:00 local" any time.
OTHER_ZONES = (
    "Pacific/Pago_Pago",
    "America/Anchorage",
    "America/Halifax",
    "America/Sao_Paulo",
    "America/Noronha",
    "Atlantic/Azores",
    "Africa/Johannesburg",
    "Europe/Moscow",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Fiji",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
)
DAYTIME = (time(9, 30), time(17, 0))  # inside every shipped sending window, with room to spare


def local_time(zone: str, at: datetime) -> time:
    return at.astimezone(ZoneInfo(zone)).time()


def daytime_zones(at: datetime) -> tuple[str, ...]:
    """US zones where it is daytime at `at`; if none, zones elsewhere where it is."""
    for candidates in (US_ZONES, WORLD_ZONES):
        chosen = tuple(z for z in candidates if DAYTIME[0] <= local_time(z, at) < DAYTIME[1])
        if chosen:
            return chosen
    raise RuntimeError(f"no demo zone has daytime at {at.isoformat()}")  # the lists span the globe


def zone_at_local_hour(hour: int, at: datetime) -> str:
    """A zone whose local time at `at` is within [hour:00, hour+1:00): the quiet-hours case."""
    for zone in (*US_ZONES, *WORLD_ZONES, *OTHER_ZONES, *(f"Etc/GMT{-o:+d}" for o in range(-12, 15))):
        if local_time(zone, at).hour == hour:
            return zone
    raise RuntimeError(f"no zone has local hour {hour} at {at.isoformat()}")  # Etc/GMT covers all


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
PEAK_TIME_REWARDS = "Peak Time Rewards"
FEEDERS = 4
TRANSFORMERS_PER_FEEDER = 3
ENROLLED_SHARE = 0.6  # of the population, in Peak Time Rewards


def feeder_id(feeder: int) -> str:
    return f"F-{feeder}"


def transformer_id(feeder: int, transformer: int) -> str:
    return f"T-{feeder}-{transformer}"


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
    premise_id: str
    transformer_id: str
    feeder_id: str
    programs: tuple[str, ...] = ()


def grid_place(n: int) -> tuple[str, str, str]:
    """Customer number n's premise, transformer and feeder: the feeders take turns, then their
    transformers, so every feeder and transformer serves a few customers even in a small utility."""
    feeder = 1 + (n - 1) % FEEDERS
    transformer = 1 + ((n - 1) // FEEDERS) % TRANSFORMERS_PER_FEEDER
    return f"P{n:05d}", transformer_id(feeder, transformer), feeder_id(feeder)


def make_customers(count: int, now: datetime, seed: int = 7) -> list[DemoCustomer]:
    rng = random.Random(seed)
    zones = daytime_zones(now)
    customers = []
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        premise, transformer, feeder = grid_place(n)
        customers.append(
            DemoCustomer(
                customer_id=f"C{n:05d}",
                name=f"{first} {last}",
                # 555-01xx numbers are reserved for fiction.
                phone=f"+1{rng.choice(('503', '303', '312', '212', '602'))}5550{100 + n % 100:03d}",
                email=f"{first.lower()}.{last.lower()}.{n}@example.com",
                locale="es" if rng.random() < 0.25 else "en",
                time_zone=rng.choice(zones),
                sms_consent=rng.random() < 0.8,
                email_consent=rng.random() < 0.9,
                segment=rng.choice(("evening_peak", "ev_charging", "solar_export", "flat")),
                premise_id=premise,
                transformer_id=transformer,
                feeder_id=feeder,
                # a stable share, drawn apart from the other fields so that adding it changed none
                programs=(PEAK_TIME_REWARDS,) if (n * 37) % 100 < ENROLLED_SHARE * 100 else (),
            )
        )
    return customers


def customer_events(customer: DemoCustomer, at: datetime) -> list[NewEvent]:
    """customer.created, then the consent the customer gave at sign-up and their program enrolments."""
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
                "premise_id": customer.premise_id,
                "transformer_id": customer.transformer_id,
                "feeder_id": customer.feeder_id,
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
    for program in customer.programs:
        events.append(
            NewEvent(
                event_id=event_id("program.enrolled", customer.customer_id, program),
                type="program.enrolled",
                customer_id=customer.customer_id,
                occurred_at=at,
                source=SOURCE,
                payload={"program": program},
            )
        )
    return events
