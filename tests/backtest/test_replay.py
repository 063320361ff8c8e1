"""The replay in memory (no database): waits for an event, goals, splits and after_exit re-entry."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from gridjourney.backtest.replay import Replay
from gridjourney.events.models import StoredEvent
from gridjourney.policy.model import Policy
from tests.backtest.builders import ZONE, at, compiled

ASK = """
id: audit_offer
purpose: informational
trigger: {event: bill.issued}
entry: {reentry: after_exit}
goal: {event: usage.reduced, within: 10d}
steps:
  - id: ask
    wait_for: {event: consent.changed, when: "event.granted", timeout: 3d, on_timeout: nudge}
  - id: thanks
    send: {channels: [email], template: thanks}
    next: end
  - id: nudge
    split:
      - {weight: 1, goto: end, label: first}
      - {weight: 1, goto: end, label: second}
"""
DAY_1 = at("2026-01-05T12:00:00")
positions = itertools.count(1)


def stored(event_type: str, customer_id: str | None, when: datetime, **payload: Any) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id=customer_id,
        occurred_at=when,
        source="test",
        payload=payload,
        position=next(positions),
        recorded_at=when,
    )


def day(n: int) -> datetime:
    return DAY_1 + timedelta(days=n - 1)


def test_wait_for_goal_split_and_after_exit(policy: Policy) -> None:
    replay = Replay(compiled(ASK), policy, DAY_1 - timedelta(days=1), day(20))
    profile = {"name": "Ana", "email": "a@example.com", "time_zone": ZONE}
    log = [
        stored("customer.created", "c-a", DAY_1 - timedelta(days=30), **profile),
        stored("customer.created", "c-b", DAY_1 - timedelta(days=30), **profile),
        stored("bill.issued", "c-a", day(1), amount=90.0),
        stored("bill.issued", "c-b", day(1), amount=90.0),
        # the answer grants the consent the thank-you needs, and ends c-a's wait
        stored("consent.changed", "c-a", day(2), channel="email", purpose="informational", granted=True),
        stored("usage.reduced", "c-a", day(5), kwh_saved=10.0, period_days=7),
        # c-b timed out at day 4 and is still in the journey, watching for its goal until day 11
        stored("bill.issued", "c-b", day(6), amount=95.0),
        stored("bill.issued", "c-b", day(12), amount=99.0),
    ]
    for event in log:
        replay.feed(event)
    report = replay.finish()

    assert report.entered == 3
    assert report.blocked_by_reentry == {"after_exit (still in the journey)": 1}
    assert report.steps["ask"].outcomes == {"event": 1, "timeout": 2}
    assert report.steps["thanks"].messages == {("email", "thanks", "en"): 1}
    assert report.steps["thanks"].examples == ["c-a"]
    [(_, arms)] = report.steps["nudge"].outcomes.items()  # one customer: the same arm both times
    assert arms == 2
    assert report.converted == 1
    assert report.exits == {"converted": 1, "completed": 2}
    assert report.still_active == 0
