"""Whose holidays a DR event's like days skip: the run's own calendar, else the utility's
(settings.holiday_calendar), so that an event the router started in England skips England's bank
holidays without the DR operator naming a calendar in the event."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr.gather import gather_facts
from gridjourney.dr.like_days import subject_terms
from gridjourney.metering.holidays import ENGLAND, US
from tests.dr.synthetic import build_trial, store_trial


def test_the_runs_own_calendar_comes_before_the_utilitys() -> None:
    assert subject_terms({}, ENGLAND)[0] == ENGLAND
    assert subject_terms({"holiday_calendar": US}, ENGLAND)[0] == US
    assert subject_terms({})[0] == US


async def test_a_run_naming_no_calendar_takes_the_utilitys(engine: AsyncEngine) -> None:
    await store_trial(engine, build_trial(treated=4, holdout=4, responders=2, shed_kw=0.5))
    _, [rule] = await gather_facts(engine, ["ev-1"], ENGLAND)
    assert rule.holiday_calendar == ENGLAND
    _, [default] = await gather_facts(engine, ["ev-1"])
    assert default.holiday_calendar == US
