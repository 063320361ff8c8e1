"""Which journeys an event starts, and which running journeys listen for it."""

from __future__ import annotations

import logging

import pytest

from gridjourney.router.matching import listened_event_types, trigger_conditions, triggered_journeys
from tests.workflows.standins import compiled, event

HIGH_BILL = compiled(
    """
id: high_bill
purpose: informational
trigger:
  event: bill.projection_updated
  when: "event.projected_amount >= 1.3 * event.typical_amount"
exit_on: [bill.issued]
goal: {event: usage.reduced, within: 14d}
steps:
  - id: alert
    send: {channels: [sms], template: high_bill_alert}
  - id: answer
    wait_for: {event: consent.changed, timeout: 2d}
"""
)
WELCOME = compiled(
    """
id: welcome
purpose: informational
trigger:
  - event: customer.created
  - event: customer.updated
    when: "customer.segment == 'ev_charging'"
steps:
  - id: hello
    send: {channels: [sms], template: welcome}
"""
)


def test_a_trigger_matches_when_its_condition_holds() -> None:
    high = event("bill.projection_updated", "c-1", projected_amount=200.0, typical_amount=100.0, days_left=9)
    normal = event(
        "bill.projection_updated", "c-1", projected_amount=110.0, typical_amount=100.0, days_left=9
    )
    assert [j.journey_id for j in triggered_journeys(high, [HIGH_BILL, WELCOME], None)] == ["high_bill"]
    assert triggered_journeys(normal, [HIGH_BILL, WELCOME], None) == []


def test_a_condition_on_the_customer_sees_the_customer() -> None:
    updated = event("customer.updated", "c-1")
    assert triggered_journeys(updated, [WELCOME], {"segment": "ev_charging"}) == [WELCOME]
    assert triggered_journeys(updated, [WELCOME], {"segment": "flat"}) == []


def test_the_router_reads_the_customer_only_for_a_trigger_with_a_condition() -> None:
    journeys = [HIGH_BILL, WELCOME]
    assert trigger_conditions("customer.updated", journeys) == ["customer.segment == 'ev_charging'"]
    assert trigger_conditions("customer.created", journeys) == []  # its trigger has no `when`
    assert trigger_conditions("usage.reduced", journeys) == []  # a goal, not a trigger


def test_a_condition_that_cannot_be_evaluated_does_not_match() -> None:
    # no typical_amount: the expression fails, which counts as false rather than starting anything
    partial = event("bill.projection_updated", "c-1", projected_amount=200.0)
    assert triggered_journeys(partial, [HIGH_BILL], None) == []


def test_a_condition_past_the_evaluator_s_bounds_does_not_match_and_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Accepted at publish (a key's value decides), it never matches: an operator must hear of it, once.
    costly = compiled(
        """
id: costly
purpose: informational
trigger:
  event: bill.projection_updated
  when: "len(str(event.days_left) * 100000000) > 0"
steps:
  - id: alert
    send: {channels: [sms], template: high_bill_alert}
"""
    )
    bill = event("bill.projection_updated", "c-1", projected_amount=200.0, typical_amount=100.0, days_left=9)
    with caplog.at_level(logging.WARNING, logger="gridjourney.router.matching"):
        assert triggered_journeys(bill, [costly], None) == []
        assert triggered_journeys(bill, [costly], None) == []
    [record] = caplog.records
    assert "went past the evaluator's bounds and counts as false" in record.getMessage()
    assert "len(str(event.days_left) * 100000000) > 0" in record.getMessage()
    # a missing key is the event's doing, not the condition's: nothing said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gridjourney.router.matching"):
        assert triggered_journeys(event("bill.projection_updated", "c-1"), [HIGH_BILL], None) == []
    assert caplog.records == []


def test_events_without_a_customer_start_no_per_customer_journey() -> None:
    feeder_event = event("customer.created", "c-1").model_copy(update={"customer_id": None})
    assert triggered_journeys(feeder_event, [WELCOME], None) == []


def test_running_journeys_listen_for_wait_for_goal_and_exit_events() -> None:
    assert listened_event_types(HIGH_BILL) == {"bill.issued", "usage.reduced", "consent.changed"}
    assert listened_event_types(WELCOME) == set()
