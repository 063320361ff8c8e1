"""The demo's day of per-customer events, and what each journey instance should look like once it has
played (the utility-scale events, a DR event and outages, are in demo/grid_day.py).

Events are dated "now" so that journeys run in real time: waits of days are still waiting when the
demo is checked, which is the point — a waiting journey is checked at the right step with the right
messages already sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gridjourney.demo.utility import SOURCE, DemoCustomer, customer_events, event_id
from gridjourney.events.models import NewEvent


@dataclass(frozen=True)
class Expectation:
    """Where one journey instance should be: finished with a status, or waiting at a step."""

    journey_id: str
    customer_id: str
    status: str  # active | completed | exited
    waiting_at: str | None = None
    sent_steps: tuple[str, ...] = ()


@dataclass
class Scenario:
    onboarding: list[NewEvent] = field(default_factory=list)
    day: list[NewEvent] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)


def _event(kind: str, customer: DemoCustomer, at: datetime, key: str, **payload: object) -> NewEvent:
    return NewEvent(
        event_id=event_id(kind, customer.customer_id, key),
        type=kind,
        customer_id=customer.customer_id,
        occurred_at=at,
        source=SOURCE,
        payload=payload,
    )


def build_scenario(customers: list[DemoCustomer], now: datetime) -> Scenario:
    """Everyone signs up (onboarding); then a slice of customers gets a projected bill: well above their
    typical bill (the high-bill alert) or close to it (no journey)."""
    scenario = Scenario()
    for customer in customers:
        scenario.onboarding.extend(customer_events(customer, now))
        scenario.expectations.append(
            Expectation(
                "onboarding", customer.customer_id, "active", waiting_at="settle_in", sent_steps=("welcome",)
            )
        )
    slice_size = max(len(customers) // 10, 4)
    high_bill = customers[:slice_size]
    normal_bill = customers[slice_size : 2 * slice_size]
    period = now.strftime("%Y-%m")

    for n, customer in enumerate(high_bill):
        scenario.day.append(
            _event(
                "bill.projection_updated",
                customer,
                now,
                period,
                projected_amount=212.40,
                typical_amount=138.00,
                days_left=12,
            )
        )
        if n % 4 == 0:  # the bill was issued: the journey exits
            scenario.day.append(_event("bill.issued", customer, now, period, amount=205.10))
            scenario.expectations.append(Expectation("high_bill_alert", customer.customer_id, "exited"))
        else:
            scenario.expectations.append(
                Expectation(
                    "high_bill_alert",
                    customer.customer_id,
                    "active",
                    waiting_at="pause",
                    sent_steps=("alert",),
                )
            )
    for customer in normal_bill:  # below the 30 % threshold: no journey
        scenario.day.append(
            _event(
                "bill.projection_updated",
                customer,
                now,
                period,
                projected_amount=141.00,
                typical_amount=138.00,
                days_left=12,
            )
        )

    return scenario
