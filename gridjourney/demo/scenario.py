"""The demo's day of events, and what each journey instance should look like once it has played.

Events are dated "now" so that journeys run in real time: waits of days are still waiting when the
demo is checked, which is the point — a waiting journey is checked at the right step with the right
messages already sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    """Everyone signs up (onboarding); then a slice of customers each meets one of the other journeys."""
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
    dr = customers[2 * slice_size : 3 * slice_size]
    outage = customers[3 * slice_size : 4 * slice_size]
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

    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for n, customer in enumerate(dr):
        dr_event_id = f"PTR-{start:%Y%m%d}"
        scenario.day.append(
            _event(
                "dr.event_scheduled",
                customer,
                now,
                dr_event_id,
                dr_event_id=dr_event_id,
                program="Peak Time Rewards",
                start=start.isoformat(),
                end=(start + timedelta(hours=3)).isoformat(),
                modification_number=0,
            )
        )
        if n % 5 == 0:
            scenario.day.append(
                _event(
                    "dr.event_cancelled",
                    customer,
                    now,
                    dr_event_id,
                    dr_event_id=dr_event_id,
                    reason="grid relief",
                )
            )
            scenario.expectations.append(Expectation("dr_event", customer.customer_id, "exited"))
        else:
            scenario.expectations.append(
                Expectation(
                    "dr_event",
                    customer.customer_id,
                    "active",
                    waiting_at="until_an_hour_before",
                    sent_steps=("day_ahead_notice",),
                )
            )

    for n, customer in enumerate(outage):
        incident = f"INC-{now:%Y%m%d}-{n // 5}"
        scenario.day.append(
            _event(
                "outage.detected",
                customer,
                now,
                incident,
                incident_id=incident,
                cause="tree on line",
                feeder="F-12",
                etr=(now + timedelta(hours=2)).isoformat(),
            )
        )
        if n % 2 == 0:
            scenario.day.append(
                _event(
                    "outage.restored",
                    customer,
                    now,
                    incident,
                    incident_id=incident,
                    restored_at=(now + timedelta(minutes=50)).isoformat(),
                )
            )
            scenario.expectations.append(
                Expectation(
                    "outage_notice", customer.customer_id, "completed", sent_steps=("notice", "restored")
                )
            )
        else:
            scenario.expectations.append(
                Expectation(
                    "outage_notice",
                    customer.customer_id,
                    "active",
                    waiting_at="await_restoration",
                    sent_steps=("notice",),
                )
            )
    return scenario
