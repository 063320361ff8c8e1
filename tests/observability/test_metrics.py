"""`GET /metrics` of the API over a real database: every family of issue 11 moves when what it counts
happens (the counters are the process's, so each check compares a scrape before and after)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key
from gridjourney.config import Settings
from gridjourney.db.tables import cohort_runs, send_ledger
from gridjourney.events import dead_letters
from gridjourney.events.models import engine_event
from gridjourney.events.store import EventStore
from tests.observability.scrape import value

JOURNEY = f"metrics-{uuid.uuid4().hex[:6]}"  # labels of this module's own, whatever ran before


async def _unreachable_temporal() -> Any:
    raise ConnectionError("no Temporal in these tests")


@pytest.fixture
async def http(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(home=tmp_path), engine, _unreachable_temporal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        yield client


async def _scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _message(event_type: str, n: int, **payload: Any) -> Any:
    return engine_event(
        event_id=uuid.uuid4(),
        event_type=event_type,
        customer_id=None,
        occurred_at=datetime.now(UTC),
        source="gridjourney.send",
        payload={"idempotency_key": f"k-{n}", "journey_id": JOURNEY, **payload},
    )


def _journey(event_type: str, **payload: Any) -> Any:
    return engine_event(
        event_id=uuid.uuid4(),
        event_type=event_type,
        customer_id=None,
        occurred_at=datetime.now(UTC),
        source="gridjourney.journeys",
        payload={"journey_id": JOURNEY, "version": 1, "instance_id": f"i-{uuid.uuid4().hex}", **payload},
    )


async def test_posted_events_are_counted_by_type_once(engine: AsyncEngine, http: httpx.AsyncClient) -> None:
    _, key = await create_key(engine, "metrics", ["events:write"])
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "customer.created",
        "customer_id": f"C-{uuid.uuid4().hex[:8]}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "crm",
        "payload": {"name": "Test", "time_zone": "UTC"},
    }
    before = value(await _scrape(http), "gridjourney_events_appended_total", type="customer.created")
    for _ in range(2):  # the second time a duplicate: not appended again
        posted = await http.post("/v1/events", json=event, headers={"Authorization": f"Bearer {key}"})
        assert posted.status_code in (200, 201, 202), posted.text
    after = value(await _scrape(http), "gridjourney_events_appended_total", type="customer.created")
    assert after - before == 1


async def test_journeys_decisions_and_messages_are_counted(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    before = await _scrape(http)
    await EventStore(engine).append(
        [
            _journey("journey.entered", holdout=False),
            _journey("journey.entered", holdout=True),
            _journey("journey.exited", reason="goal reached"),
            _journey("journey.converted", goal_event="payment.received"),
            _message("message.sent", 1, channel="sms"),
            _message("message.suppressed", 2, channel=None, reason="sms: consent_revoked; email: no_consent"),
            _message("message.delivered", 3, channel="sms"),
        ]
    )
    after = await _scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gridjourney_journeys_started_total", journey=JOURNEY, holdout="false") == 1
    assert moved("gridjourney_journeys_started_total", journey=JOURNEY, holdout="true") == 1
    assert moved("gridjourney_journeys_exited_total", journey=JOURNEY) == 1
    assert moved("gridjourney_journeys_converted_total", journey=JOURNEY) == 1
    assert moved("gridjourney_eligibility_decisions_total", outcome="sent", reason="eligible") == 1
    assert (
        moved("gridjourney_eligibility_decisions_total", outcome="suppressed", reason="consent_revoked") == 1
    )
    assert moved("gridjourney_eligibility_decisions_total", outcome="suppressed", reason="no_consent") == 1
    assert moved("gridjourney_messages_total", channel="sms", status="sent") == 1
    assert moved("gridjourney_messages_total", channel="none", status="suppressed") == 1
    assert moved("gridjourney_messages_total", channel="sms", status="delivered") == 1
    assert moved("gridjourney_events_appended_total", type="journey.entered") == 2


async def test_lag_dead_letters_and_rows_in_doubt_are_read_from_the_database(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    store = EventStore(engine)
    text = await _scrape(http)
    assert value(text, "gridjourney_database_up") == 1
    assert value(text, "gridjourney_subscription_lag_positions", subscription="router") == 0
    assert value(text, "gridjourney_ledger_rows_in_doubt", status="ambiguous") == 0

    [first, _] = await store.append(
        [_message("message.sent", 4, channel="sms"), _journey("journey.exited", reason="x")]
    )
    [stored] = await store.read_after(first.position - 1, limit=1)
    async with engine.begin() as conn:
        await dead_letters.record(conn, "projections", stored, "ValueError", attempts=3)
        await conn.execute(
            insert(send_ledger).values(idempotency_key="k-doubt", customer_id="C-1", status="ambiguous")
        )
    text = await _scrape(http)
    assert value(text, "gridjourney_subscription_lag_positions", subscription="router") == 2
    assert value(text, "gridjourney_subscription_lag_seconds", subscription="router") >= 0
    assert value(text, "gridjourney_dead_letters", subscription="projections") == 1
    assert value(text, "gridjourney_ledger_rows_in_doubt", status="ambiguous") == 1


async def test_cohort_runs_members_are_counted_as_entered_and_exited(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    def run(key: str, status: str, members: int, holdout: int) -> dict[str, Any]:
        return {
            "run_id": f"cohort:{JOURNEY}:{key}",
            "journey_id": JOURNEY,
            "version": 1,
            "cohort_key": key,
            "trigger_event_id": uuid.uuid4(),
            "status": status,
            "members": members,
            "holdout": holdout,
        }

    async with engine.begin() as conn:
        await conn.execute(
            insert(cohort_runs).values([run("a", "running", 10, 2), run("b", "completed", 5, 1)])
        )
    text = await _scrape(http)
    entered = "gridjourney_cohort_members_entered_total"
    assert value(text, entered, journey=JOURNEY, holdout="false") == 8 + 4
    assert value(text, entered, journey=JOURNEY, holdout="true") == 2 + 1
    assert value(text, "gridjourney_cohort_members_exited_total", journey=JOURNEY) == 5
