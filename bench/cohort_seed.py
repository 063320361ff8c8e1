"""What the cohort benchmark sends to: customers written straight into the projection tables (COPY:
100,000 customers in seconds, where appending their events and folding them would take minutes), a
policy that sends around the clock, and the DR day-ahead notice as a cohort journey and as a
one-step per-customer journey.

The channel mix (the notice tries push, then SMS, then email, as journeys/dr_event.yaml does):
  - PUSH_SHARE of the customers have the utility's app (a push subscription) and an email address;
  - SMS_SHARE are SMS-only (a phone with SMS consent, no email);
  - the rest get email; a tenth of them also have a phone without SMS consent.
Every customer lives in one zone (the utility's) and consents to informational messages on their
channels. Caps are the shipped policy's, never reached: each customer gets one notice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from gridjourney.dsl.compiler import compile_journey
from gridjourney.dsl.loader import load_journey_text
from gridjourney.dsl.registry import prepare
from gridjourney.dsl.schema import CompiledJourney

TIME_ZONE = "America/Los_Angeles"
PUSH_SHARE = 0.20
SMS_SHARE = 0.15
PURPOSE = "informational"
CHECKOUT = Path(__file__).resolve().parents[1]

COHORT_JOURNEY = """\
id: bench_dr_notice
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {program: event.program}
steps:
  - id: day_ahead_notice
    send: {channels: [push, sms, email], template: dr_day_ahead}
"""

PER_CUSTOMER_JOURNEY = """\
id: bench_dr_notice_per_customer
purpose: informational
trigger: {event: dr.event_scheduled}
steps:
  - id: day_ahead_notice
    send: {channels: [push, sms, email], template: dr_day_ahead}
"""


@dataclass(frozen=True)
class PushEndpoint:
    """A browser subscription the push stand-in knows (made there: its keys decrypt the payload)."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Population:
    """Customers `{prefix}-{n}` for n in [0, count), enrolled in `program`."""

    prefix: str
    count: int
    program: str
    sms_only: bool = False  # the rate-limit run: every member SMS-only
    named: bool = True  # the email greets customers by name: one SendGrid request per email

    def customer_id(self, n: int) -> str:
        return f"{self.prefix}-{n:06d}"

    def channel(self, n: int) -> str:
        """The channel the notice reaches customer n by (the mix above, spread evenly)."""
        if self.sms_only:
            return "sms"
        slot = (n * 7919) % 100  # a fixed shuffle of the shares over the customer numbers
        if slot < PUSH_SHARE * 100:
            return "push"
        if slot < (PUSH_SHARE + SMS_SHARE) * 100:
            return "sms"
        return "email"

    def mix(self) -> dict[str, int]:
        return dict(Counter(self.channel(n) for n in range(self.count)))


def seed(database_uri: str, populations: Sequence[Population], endpoints: Sequence[PushEndpoint]) -> None:
    """COPY the populations' customers, consents, enrolments and push subscriptions (one endpoint
    per push customer, taken in order from `endpoints`)."""
    now = datetime.now(UTC)
    free = iter(endpoints)
    phone_no = 0
    with psycopg.connect(database_uri) as conn, conn.cursor() as cur:
        rows: dict[str, list[tuple[Any, ...]]] = {"consents": [], "programs": [], "push": []}
        with cur.copy(
            "COPY customers (customer_id, name, phone, email, locale, time_zone, attributes, premise_id,"
            " transformer_id, feeder_id, created_at, updated_at, last_position) FROM STDIN"
        ) as customers:
            for population in populations:
                for n in range(population.count):
                    customer_id, channel = population.customer_id(n), population.channel(n)
                    phone_no += 1
                    phone = f"+1503{2_000_000 + phone_no:07d}"
                    email = f"{customer_id}@customers.example"
                    has_phone = channel == "sms" or (channel == "email" and n % 10 == 0)
                    customers.write_row(
                        (
                            customer_id,
                            f"Customer {n}" if population.named else None,
                            phone if has_phone else None,
                            None if channel == "sms" else email,
                            "en",
                            TIME_ZONE,
                            "{}",
                            f"P-{customer_id}",
                            f"T-{n // 8}",
                            f"F-{n // 2000}",
                            now,
                            now,
                            0,
                        )
                    )
                    consented = {"sms": ["sms"], "email": ["email"], "push": ["push", "email"]}[channel]
                    rows["consents"] += [
                        (customer_id, c, PURPOSE, True, "bench", "web", now, 0) for c in consented
                    ]
                    rows["programs"].append((customer_id, population.program, now, 0))
                    if channel == "push":
                        e = next(free)
                        digest = hashlib.sha256(e.endpoint.encode()).hexdigest()
                        rows["push"].append((digest, customer_id, e.endpoint, e.p256dh, e.auth, now, 0))
        _copy(
            cur,
            "consents",
            "customer_id, channel, purpose, granted, source, method, updated_at, last_position",
            rows["consents"],
        )
        _copy(cur, "customer_programs", "customer_id, program, enrolled_at, last_position", rows["programs"])
        _copy(
            cur,
            "push_subscriptions",
            "endpoint_sha256, customer_id, endpoint, p256dh, auth, created_at, last_position",
            rows["push"],
        )
        conn.commit()
        cur.execute("ANALYZE")


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def push_customers(populations: Sequence[Population]) -> int:
    return sum(p.channel(n) == "push" for p in populations for n in range(p.count))


def all_day_policy(directory: Path) -> Path:
    """The shipped policy.yaml with every purpose sendable around the clock (a run at night would
    otherwise be deferred by quiet hours)."""
    policy = yaml.safe_load((CHECKOUT / "policy.yaml").read_text())
    for rules in policy["purposes"].values():
        rules["sending_hours"] = "00:00-24:00"
    path = directory / "policy-all-day.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def journeys(templates_dir: Path) -> tuple[str, CompiledJourney]:
    """(the cohort journey's YAML, to publish; the per-customer journey, compiled)."""
    prepare(PER_CUSTOMER_JOURNEY, "bench_dr_notice_per_customer.yaml", templates_dir)  # its checks
    definition = load_journey_text(PER_CUSTOMER_JOURNEY, "bench_dr_notice_per_customer.yaml")
    per_customer = compile_journey(definition, version=1, content_hash="bench", templates_dir=templates_dir)
    return COHORT_JOURNEY, per_customer
