"""The program manager's report after a member's erasure still adds up: they stay a member (the run
treated them) without figures of their own, since their reads and DR figures went with them; the
achieved reduction extrapolates the measured members' per-home reduction over every treated home."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr.gather import gather
from gridjourney.dr.report import build_report
from gridjourney.events.store import EventStore
from gridjourney.privacy.erasure import erase_customer
from tests.dr.synthetic import build_trial, store_trial
from tests.events.builders import new_event


async def test_an_erased_member_counts_as_treated_but_is_not_measured(engine: AsyncEngine) -> None:
    trial = build_trial(treated=12, holdout=12, responders=12)
    await store_trial(engine, trial)
    before = build_report((await gather(engine, ["ev-1"]))[0])
    gone = trial.treated[0]
    store = EventStore(engine)
    await store.append([new_event("customer.created", gone, {"name": "Noor Haddad"})])
    assert await erase_customer(engine, store, gone) is not None

    after = build_report((await gather(engine, ["ev-1"]))[0])

    assert (after.members, after.treated, after.holdout) == (before.members, before.treated, before.holdout)
    assert after.members == after.treated + after.holdout
    assert (before.measured_treated, after.measured_treated) == (12, 11)
    assert after.measured_holdout == before.measured_holdout == 12
    assert (before.responded, after.responded) == (12, 11)  # their response is no longer measured
    assert sum(segment.treated for segment in after.segments) == after.treated
    assert after.reduction_kw is not None and after.achieved_kw is not None
    # per home, over every treated home: the erased one's share is extrapolated, not dropped
    assert abs(after.achieved_kw.estimate - after.reduction_kw.estimate * after.treated) < 1e-9
