"""A backtest evaluates the date and history functions as the engine does: had() over the customer's
history as of each moment (from before the period too, never the trigger), now() and local_date()
in simulated time, in_journey() over the other journeys' runs the log recorded."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.events.models import NewEvent
from gridjourney.policy.model import Policy
from tests.backtest.builders import JOURNEY, append, at, compiled, customer, new, projection

BEFORE = at("2025-09-01T10:00:00")
FIRST_HIGH = JOURNEY.replace(
    '"event.projected_amount > 100"',
    """'event.projected_amount > 100 and not had("bill.issued", within=60d, where=event.amount > 120)'""",
).replace(
    """      - when: "customer.heating == 'electric'"
""",
    """      - when: 'days_since(event.occurred_at) >= 2 and local_date() == "2026-01-07"'
""",
)


async def test_had_reads_the_history_before_the_period_and_dates_the_simulated_time(
    engine: AsyncEngine, policy: Policy
) -> None:
    await append(
        engine,
        [
            *customer("c-recent", BEFORE, phone="+15035550101"),
            *customer("c-old", BEFORE, phone="+15035550102"),
            *customer("c-small", BEFORE, phone="+15035550103"),
            new("bill.issued", "c-recent", at("2025-12-20T12:00:00"), amount=150.0),  # 16 days before
            new("bill.issued", "c-old", at("2025-10-01T12:00:00"), amount=150.0),  # beyond 60 days
            new("bill.issued", "c-small", at("2025-12-20T12:00:00"), amount=50.0),  # `where` is false
            projection("c-recent", at("2026-01-05T12:00:00")),
            projection("c-old", at("2026-01-05T12:00:00")),
            projection("c-small", at("2026-01-05T12:00:00")),
        ],
    )
    journey = compiled(FIRST_HIGH)
    report = await backtest(engine, journey, policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))
    assert (report.triggers_matched, report.entered) == (2, 2)
    assert report.steps["alert"].examples == ["c-old", "c-small"]
    # two days after the trigger, in the customer's zone (London): the date the branch names
    assert report.steps["route"].outcomes == {"tips": 2}


async def test_in_journey_reads_the_other_journeys_runs_the_log_recorded(
    engine: AsyncEngine, policy: Policy
) -> None:
    def record(kind: str, customer_id: str, when: str, instance: str, **payload: object) -> NewEvent:
        ids = {"journey_id": "onboarding", "version": 1, "instance_id": instance}
        return new(kind, customer_id, at(when), **ids, **payload)

    await append(
        engine,
        [
            *customer("c-in", BEFORE, phone="+15035550101"),
            *customer("c-done", BEFORE, phone="+15035550102"),
            *customer("c-never", BEFORE, phone="+15035550103"),
            record("journey.entered", "c-in", "2025-12-01T10:00:00", "onboarding:c-in", holdout=False),
            record("journey.entered", "c-done", "2025-12-01T10:00:00", "onboarding:c-done", holdout=False),
            record(
                "journey.exited", "c-done", "2025-12-20T10:00:00", "onboarding:c-done", reason="completed"
            ),
            projection("c-in", at("2026-01-05T12:00:00")),
            projection("c-done", at("2026-01-05T12:00:00")),
            projection("c-never", at("2026-01-05T12:00:00")),
            # the onboarding run of c-in ends during the period: a later trigger enters
            record("journey.exited", "c-in", "2026-01-10T10:00:00", "onboarding:c-in", reason="completed"),
            projection("c-in", at("2026-01-12T12:00:00")),
        ],
    )
    not_onboarding = JOURNEY.replace(
        '"event.projected_amount > 100"',
        """'event.projected_amount > 100 and not in_journey("onboarding")'""",
    )
    report = await backtest(
        engine, compiled(not_onboarding), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00")
    )
    assert report.entry_examples == ["c-done", "c-never", "c-in"]
