"""In a backtest, had("consent.changed", ...) does not count a consent change that did not apply on
arrival, as the engine's had() does not (projections/history.py; tests/projections/
test_history_consent.py): the replay meets a late grant older than the STOP before the STOP, in the
order things occurred, and must still not read it as a grant."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.policy.model import Policy
from tests.backtest.builders import append, at, compiled, customer, new, projection

ALREADY_TEXTING = """
id: bill_nudge
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - id: check
    branch:
      - when: 'had("consent.changed", within=30d, where=event.granted and event.channel == "sms")'
        goto: end
      - goto: invite
  - id: invite
    wait: 1d
"""
SMS = {"channel": "sms", "purpose": "informational"}


async def test_a_late_grant_older_than_the_stop_is_not_had(engine: AsyncEngine, policy: Policy) -> None:
    await append(engine, [*customer("c-late", at("2025-12-01T10:00:00"), phone="+15035550101", grants=())])
    await append(engine, [new("consent.changed", "c-late", at("2026-01-03T09:00:00"), **SMS, granted=False)])
    await append(engine, [new("consent.changed", "c-late", at("2026-01-02T09:00:00"), **SMS, granted=True)])
    await append(engine, [projection("c-late", at("2026-01-05T12:00:00"))])
    report = await backtest(
        engine, compiled(ALREADY_TEXTING), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00")
    )
    assert report.steps["check"].outcomes == {"invite": 1}


async def test_a_grant_that_applied_is_had(engine: AsyncEngine, policy: Policy) -> None:
    await append(engine, [*customer("c-on", at("2025-12-01T10:00:00"), phone="+15035550101", grants=())])
    await append(engine, [new("consent.changed", "c-on", at("2026-01-02T09:00:00"), **SMS, granted=True)])
    await append(engine, [projection("c-on", at("2026-01-05T12:00:00"))])
    report = await backtest(
        engine, compiled(ALREADY_TEXTING), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00")
    )
    assert report.steps["check"].outcomes == {"end": 1}
