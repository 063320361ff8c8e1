"""A cohort backtest routes no consent change that did not apply on arrival, as the router routes it
nowhere (router/router.py skips it before the cohorts' routing): a late CRM grant older than the
STOP starts no run, though the replay meets it first, in the order things occurred."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.policy.model import Policy
from tests.backtest.builders import append, at, compiled, customer, new

CONSENT_WAVE = """
id: consent_wave
mode: cohort
purpose: informational
trigger: {event: consent.changed, when: "event.granted"}
cohort:
  key: event.channel
  audience: {where: "True"}
steps:
  - id: pause
    wait: 1h
"""
SMS = {"channel": "sms", "purpose": "informational"}
PERIOD = (at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))


async def test_a_late_grant_older_than_the_stop_starts_no_cohort_run(
    engine: AsyncEngine, policy: Policy
) -> None:
    await append(engine, [*customer("c-1", at("2025-12-01T10:00:00"), phone="+15035550101", grants=())])
    await append(engine, [new("consent.changed", "c-1", at("2026-01-03T09:00:00"), **SMS, granted=False)])
    await append(engine, [new("consent.changed", "c-1", at("2026-01-02T09:00:00"), **SMS, granted=True)])
    report = await backtest(engine, compiled(CONSENT_WAVE), policy, *PERIOD)
    assert (report.triggers_matched, report.cohort_runs) == (0, 0)

    await append(engine, [new("consent.changed", "c-1", at("2026-01-04T09:00:00"), **SMS, granted=True)])
    report = await backtest(engine, compiled(CONSENT_WAVE), policy, *PERIOD)
    assert (report.triggers_matched, report.cohort_runs) == (1, 1)  # a grant after the STOP applied
