"""GET /v1/dr-events/{id}/performance: the DR report for program managers (admin scope)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import cohort_members
from gridjourney.metering.store import copy_reads
from tests.api.conftest import KeyFactory
from tests.dr.synthetic import EVENT_START, build_trial, store_trial

PATH = "/v1/dr-events/ev-1/performance"


async def test_needs_the_admin_scope(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    answer = await client.get(PATH)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    reader = await make_key("journeys:read")
    answer = await client.get(PATH, headers=reader)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def test_an_unknown_event_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await client.get("/v1/dr-events/no-such-event/performance", headers=admin)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "no-such-event" in answer.json()["detail"]


async def test_reports_the_event(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await store_trial(
        engine, build_trial(treated=12, holdout=12, responders=12, shed_kw=1.0), expected_kw=9.0
    )
    answer = await client.get(PATH, headers=admin)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["dr_event_id"], report["program"], report["status"]) == ("ev-1", "ptr", "scheduled")
    assert report["run_ids"] == ["cohort:dr_event:ev-1"]
    assert (report["treated"], report["holdout"], report["notified"], report["opted_out"]) == (12, 12, 0, 0)
    assert report["responded"] == 12
    assert len(report["hours"]) == 3
    hour = report["hours"][0]
    assert set(hour) == {"hour_start", "treated_kw", "holdout_kw", "reduction_kw"}
    assert hour["reduction_kw"]["low"] < 1.0 < hour["reduction_kw"]["high"]
    assert report["expected_kw"] == 9.0
    assert report["achieved_kw"]["low"] < 12.0 < report["achieved_kw"]["high"]
    assert [s["segment"] for s in report["segments"]] == ["even", "odd"]


async def test_the_report_is_kept_until_its_reads_or_members_change(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    trial = build_trial(treated=12, holdout=12, responders=6)
    late = (trial.reads["customer_id"] == "t000") & (trial.reads["read_at"] >= EVENT_START)
    await store_trial(engine, replace(trial, reads=trial.reads[~late]))

    async def report() -> dict[str, Any]:
        answer = await client.get(PATH, headers=admin)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    first = await report()
    assert first["measured_treated"] == 11  # t000's event-day reads have not arrived
    assert await report() == first  # nothing changed: the same report, not computed again

    # reads after the event change nothing it is computed from
    after = trial.reads[late].assign(read_at=trial.reads[late]["read_at"] + timedelta(days=2))
    await copy_reads(engine, after)
    assert await report() == first

    # t000's reads over the window arrive: computed again
    await copy_reads(engine, trial.reads[late])
    second = await report()
    assert second["measured_treated"] == 12 and second["computed_at"] > first["computed_at"]
    assert await report() == second

    # a member joins the run: computed again
    async with engine.begin() as conn:
        await conn.execute(
            insert(cohort_members).values(
                run_id="cohort:dr_event:ev-1", customer_id="late-joiner", member_no=24, holdout=True
            )
        )
    third = await report()
    assert (third["members"], third["holdout"]) == (25, 13) and third["computed_at"] > second["computed_at"]
