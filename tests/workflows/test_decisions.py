"""The pure decisions behind JourneyWorkflow: deadlines, local times, conditions and ids."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from gridjourney.dsl.schema import WaitSpec
from gridjourney.workflows.clock import next_local_time
from gridjourney.workflows.decisions import holds, idempotency_key, recorded_event_id, wait_deadline

NOW = datetime(2025, 3, 9, 6, 0, tzinfo=UTC)  # 01:00 in New York, the night clocks spring forward


def test_next_local_time_today_tomorrow_and_across_dst() -> None:
    assert next_local_time(NOW, time(9), "America/New_York") == datetime(2025, 3, 9, 13, tzinfo=UTC)  # EDT
    assert next_local_time(NOW, time(0, 30), "America/New_York") == datetime(2025, 3, 10, 4, 30, tzinfo=UTC)
    # 02:30 does not exist that night: the offset before the change applies (03:30 EDT)
    assert next_local_time(NOW, time(2, 30), "America/New_York") == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert next_local_time(NOW, time(6), "Not/AZone") == NOW  # unknown zone: UTC, and now is on time


def test_wait_until_an_event_time_minus_before() -> None:
    namespace = {"event": {"start": "2025-03-10T18:00:00+00:00"}, "customer": {}, "journey": {}}
    spec = WaitSpec(until="event.start", before=timedelta(hours=1))
    assert wait_deadline(spec, NOW, namespace) == datetime(2025, 3, 10, 17, tzinfo=UTC)
    assert wait_deadline(spec, datetime(2025, 3, 11, tzinfo=UTC), namespace) == datetime(
        2025, 3, 11, tzinfo=UTC
    )
    assert wait_deadline(WaitSpec(duration=timedelta(days=3)), NOW, namespace) == NOW + timedelta(days=3)


def test_failing_conditions_are_false() -> None:
    assert holds(None, {})
    assert holds("customer.score > 0.5", {"customer": {"score": 0.7}})
    assert not holds("customer.score > 0.5", {"customer": {}})  # missing key
    assert not holds("customer.score > 0.5", {"customer": {"score": None}})  # type error


def test_ids_are_stable_and_distinct_per_instance() -> None:
    first, second = "journey:j:c-1:e-1", "journey:j:c-1:e-2"  # after_exit: same workflow, new trigger
    assert recorded_event_id(first, 1) == recorded_event_id(first, 1)
    assert recorded_event_id(first, 1) != recorded_event_id(second, 1)
    assert idempotency_key(first, "alert", "c-1", 1) == f"{first}:alert:c-1"
    assert idempotency_key(first, "alert", "c-1", 2) == f"{first}:alert:c-1:2"
