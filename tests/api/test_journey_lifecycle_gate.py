"""POST /v1/journeys/{id}/retire while runs of it are being started (real Postgres): the retirement
waits for the journey's start gate (router/start_gate.py); kept waiting too long it is 503 with
Retry-After, the journey still active (nothing stored), and the same request once the starts are done
retires it. Another journey's retirement does not wait for them."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl import registry
from gridjourney.router import start_gate
from tests.api.conftest import KeyFactory
from tests.api.test_journey_lifecycle import MISTAKE

OTHER = MISTAKE.replace("id: bill_watch", "id: other_watch")


async def test_a_retirement_kept_waiting_by_starts_in_flight_is_503_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, make_key: KeyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registry.publish(engine, MISTAKE, "bill_watch.yaml", None)
    await registry.publish(engine, OTHER, "other_watch.yaml", None)
    writer = await make_key("journeys:write")
    monkeypatch.setattr(start_gate, "RETIRE_WAIT", 0.2)  # a short wait, not the deployment's

    async with start_gate.starting_runs(engine, ["bill_watch"]):  # starts of it still in flight
        busy = await client.post("/v1/journeys/bill_watch/retire", headers=writer)
        # the gates are per journey: another journey retires meanwhile
        other = await client.post("/v1/journeys/other_watch/retire", headers=writer)
        assert (other.status_code, other.json()["state"]) == (200, "retired"), other.text
    assert busy.status_code == 503, busy.text
    assert busy.json()["type"].endswith("runs-being-started") and busy.headers["Retry-After"]
    assert "still active" in busy.json()["detail"]
    assert await registry.retirement(engine, "bill_watch") is None

    retired = await client.post("/v1/journeys/bill_watch/retire", headers=writer)
    assert (retired.status_code, retired.json()["state"]) == (200, "retired")
