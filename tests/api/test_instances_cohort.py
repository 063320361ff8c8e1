"""A cohort run through /v1/instances: read (members, those waiting and where) and cancelled, with
the real Temporal dev server, workers, projections and router (the fixtures of test_instances.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cohorts import queries as cohort_queries
from tests.api.test_events import bill_event
from tests.api.test_instances import YAML, eventually, live, live_app  # noqa: F401 (fixtures)

PRECOOL = """\
id: precool
mode: cohort
purpose: informational
trigger: {event: dr.event_scheduled}
cohort:
  key: event.dr_event_id
  audience: {where: "True"}
steps:
  - id: pause
    wait: 1h
  - id: later
    wait: 1h
"""
RUN_ID = "cohort:precool:HW-1"


def dr_event(dr_event_id: str) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=2)
    event = bill_event(
        type="dr.event_scheduled",
        occurred_at=datetime.now(UTC).isoformat(),
        payload={
            "dr_event_id": dr_event_id,
            "program": "ptr",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
        },
    )
    del event["customer_id"]
    return event


async def test_a_cohort_run_is_read_and_cancelled(
    live: httpx.AsyncClient,  # noqa: F811 (the fixture)
    admin: dict[str, str],
    engine: AsyncEngine,
) -> None:
    assert (await live.post("/v1/journeys", content=PRECOOL, headers=admin | YAML)).status_code == 201
    for customer_id in ("C-1", "C-2"):
        created = bill_event(type="customer.created", customer_id=customer_id, payload={"name": "Ana"})
        assert (await live.post("/v1/events", json=created, headers=admin)).status_code == 201

    async def customers_known() -> bool:
        answers = [await live.get(f"/v1/customers/{c}", headers=admin) for c in ("C-1", "C-2")]
        return all(answer.status_code == 200 for answer in answers)

    await eventually(customers_known, "the customers projection")
    assert (await live.post("/v1/events", json=dr_event("HW-1"), headers=admin)).status_code == 201

    async def waiting_at_pause() -> dict[str, Any] | None:
        answer = await live.get(f"/v1/instances/{RUN_ID}", headers=admin)
        body: dict[str, Any] = answer.json()
        cohort = body.get("cohort") or {}
        # the run's recorded status catches up with its live state a moment later (slower under load)
        waiting = cohort.get("waiting") == {"pause": 2} and body.get("status") == "running"
        return body if answer.status_code == 200 and waiting else None

    view = await eventually(waiting_at_pause, "the cohort run to wait at `pause`", timeout=30)
    assert (view["kind"], view["journey_id"], view["version"]) == ("cohort", "precool", 1)
    assert view["workflow_status"] == "RUNNING" and view["status"] == "running"
    assert view["customer_id"] is None and view["live_error"] is None
    cohort = view["cohort"]
    assert (cohort["cohort_key"], cohort["members"], cohort["remaining"]) == ("HW-1", 2, 2)
    assert cohort["sent"] == 0 and cohort["finished_at"] is None

    unknown = await live.get("/v1/instances/cohort:precool:HW-404", headers=admin)
    assert unknown.status_code == 404, unknown.text
    assert (await live.post("/v1/instances/cohort:precool:HW-404/cancel", headers=admin)).status_code == 404

    cancelled = await live.post(f"/v1/instances/{RUN_ID}/cancel", headers=admin)
    assert cancelled.status_code == 202, cancelled.text

    async def stopped() -> dict[str, Any] | None:
        body: dict[str, Any] = (await live.get(f"/v1/instances/{RUN_ID}", headers=admin)).json()
        return body if body["workflow_status"] not in (None, "RUNNING") else None

    view = await eventually(stopped, "the cancelled cohort run to stop")
    assert view["workflow_status"] == "CANCELED" and view["status"] in ("exited", "canceled")
    assert (await live.post(f"/v1/instances/{RUN_ID}/cancel", headers=admin)).status_code == 409
    async with engine.connect() as conn:
        row = await cohort_queries.get_run(conn, RUN_ID)
    assert row is not None and row.members == 2
