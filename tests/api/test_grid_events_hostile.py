"""The grid doors of POST /v1/events (outage.* and dr.event_*) and GET /v1/dr-events/{id}/performance,
tried as an attacker or a careless integrator would: every bad value is a 422 problem+json naming the
field and the reason, nothing is written, and what is accepted folds through the projections."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import outages
from gridjourney.events.types import MAX_NAMED_PREMISES
from gridjourney.projections.runner import ProjectionRunner
from tests.api.test_events import assert_problem, event_count

TOMORROW = datetime.now(UTC) + timedelta(days=1)


def grid_event(event_type: str, payload: dict[str, Any], customer_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "oms",
        "payload": payload,
    }


def detected(**payload: Any) -> dict[str, Any]:
    return grid_event("outage.detected", {"incident_id": "o-1", "premise_ids": ["P-1"], **payload})


def scheduled(**payload: Any) -> dict[str, Any]:
    window = {
        "dr_event_id": "dr-1",
        "start": TOMORROW.isoformat(),
        "end": (TOMORROW + timedelta(hours=3)).isoformat(),
    }
    return grid_event("dr.event_scheduled", {"program": "ptr", **window, **payload})


def modified(**payload: Any) -> dict[str, Any]:
    window = {
        "dr_event_id": "dr-1",
        "start": TOMORROW.isoformat(),
        "end": (TOMORROW + timedelta(hours=3)).isoformat(),
    }
    return grid_event("dr.event_modified", {"modification_number": 1, **window, **payload})


LONG = "x" * 101
NAIVE = "2026-12-01T10:00:00"
YEAR_9999 = "9999-12-31T23:00:00Z"
YEAR_1 = "0001-01-01T00:00:00Z"

# case -> (event, the field its refusal names)
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "outage: NUL in the incident id": (detected(incident_id="o\x001"), "payload.incident_id"),
    "outage: incident id of 101 characters": (detected(incident_id=LONG), "payload.incident_id"),
    "outage: empty incident id": (detected(incident_id=""), "payload.incident_id"),
    "outage: incident id as a number": (detected(incident_id=7), "payload.incident_id"),
    "outage: NUL in a premise id": (detected(premise_ids=["P-1", "P\x002"]), "payload.premise_ids[1]"),
    "outage: premise id of 101 characters": (detected(premise_ids=[LONG]), "payload.premise_ids[0]"),
    "outage: premise ids as one string": (detected(premise_ids="P-1"), "payload.premise_ids"),
    "outage: nested premise ids": (detected(premise_ids=[["P-1"]]), "payload.premise_ids[0]"),
    "outage: more premises than an event may name": (
        detected(premise_ids=[f"P-{i}" for i in range(MAX_NAMED_PREMISES + 1)]),
        "payload.premise_ids",
    ),
    "outage: 1001 transformers": (
        detected(transformer_ids=[f"T-{i}" for i in range(1_001)]),
        "payload.transformer_ids",
    ),
    "outage: a feeder id of null": (detected(feeder_ids=[None]), "payload.feeder_ids[0]"),
    "outage: ETR in year 9999": (detected(etr=YEAR_9999), "payload.etr"),
    "outage: ETR in year 1": (detected(etr=YEAR_1), "payload.etr"),
    "outage: naive ETR": (detected(etr=NAIVE), "payload.etr"),
    "outage: cause of 2001 characters": (detected(cause="c" * 2_001), "payload.cause"),
    "outage: unknown field": (detected(premise="P-1"), "payload.premise"),
    "ETR update: naive": (
        grid_event("outage.etr_updated", {"incident_id": "o-1", "etr": NAIVE}),
        "payload.etr",
    ),
    "ETR update: none given": (grid_event("outage.etr_updated", {"incident_id": "o-1"}), "payload.etr"),
    "restored: year 9999": (
        grid_event("outage.restored", {"incident_id": "o-1", "restored_at": YEAR_9999}),
        "payload.restored_at",
    ),
    "restored: naive": (
        grid_event("outage.restored", {"incident_id": "o-1", "restored_at": NAIVE}),
        "payload.restored_at",
    ),
    "reported: NUL in the premise": (
        grid_event("outage.reported", {"premise_id": "P\x00"}, customer_id="C-1"),
        "payload.premise_id",
    ),
    "reported: no customer": (grid_event("outage.reported", {"premise_id": "P-1"}), "customer_id"),
    "DR: negative kW target": (scheduled(target_kw=-5), "payload.target_kw"),
    "DR: negative signal level": (scheduled(signal_level=-1), "payload.signal_level"),
    "DR: start in year 1": (scheduled(start=YEAR_1), "payload.start"),
    "DR: end in year 9999": (scheduled(end=YEAR_9999), "payload.end"),
    "DR: naive start": (scheduled(start=NAIVE), "payload.start"),
    "DR: start as a number": (scheduled(start=1_700_000_000), "payload.start"),
    "DR: end before start": (
        scheduled(end=(TOMORROW - timedelta(hours=1)).isoformat()),
        "payload.end",
    ),
    "DR: in the past": (
        scheduled(
            start=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
            end=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
        ),
        "payload.end",
    ),
    "DR: lasting 8 days": (scheduled(end=(TOMORROW + timedelta(days=8)).isoformat()), "payload.end"),
    "DR: lasting until 2199": (scheduled(end="2199-12-31T00:00:00Z"), "payload.end"),
    "DR: starting in 2199": (
        scheduled(start="2199-12-30T00:00:00Z", end="2199-12-31T00:00:00Z"),
        "payload.start",
    ),
    "DR modified: lasting 8 days": (modified(end=(TOMORROW + timedelta(days=8)).isoformat()), "payload.end"),
    "DR: NUL in the program": (scheduled(program="p\x00tr"), "payload.program"),
    "DR: event id of 101 characters": (scheduled(dr_event_id=LONG), "payload.dr_event_id"),
    "DR: negative modification number": (scheduled(modification_number=-1), "payload.modification_number"),
    "DR modified: modification number 0": (modified(modification_number=0), "payload.modification_number"),
    "DR modified: modification number 2^40": (
        modified(modification_number=2**40),
        "payload.modification_number",
    ),
    "DR cancelled: reason of 2001 characters": (
        grid_event("dr.event_cancelled", {"dr_event_id": "dr-1", "reason": "r" * 2_001}),
        "payload.reason",
    ),
    "DR cancelled: no event id": (grid_event("dr.event_cancelled", {}), "payload.dr_event_id"),
}


@pytest.fixture
def big_bodies(settings: Any) -> None:
    # The largest legitimate outage (MAX_NAMED_PREMISES premises) must reach validation, not the
    # body limit, for its refusal to name the field.
    settings.max_event_body_bytes = 1_000_000


@pytest.mark.parametrize("case", sorted(BAD))
async def test_a_bad_grid_event_is_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, big_bodies: None, case: str
) -> None:
    event, field = BAD[case]
    problem = assert_problem(await client.post("/v1/events", json=event, headers=admin), 422, field)
    reasons = [error["reason"] for error in problem["errors"] if error["field"] == field]
    assert all(reasons), problem
    assert await event_count(engine) == 0


# JSON that the json module cannot write from Python values: \ud800 escapes and NaN literals.
RAW: dict[str, tuple[str, str]] = {
    "outage: lone surrogate in the incident id": (
        '"incident_id": "o-\\ud800", "premise_ids": ["P-1"]',
        "payload.incident_id",
    ),
    "outage: lone surrogate in a premise id": (
        '"incident_id": "o-1", "premise_ids": ["P-\\udfff"]',
        "payload.premise_ids[0]",
    ),
    "outage: lone surrogate in the cause": (
        '"incident_id": "o-1", "premise_ids": ["P-1"], "cause": "storm \\ud83d"',
        "payload.cause",
    ),
}


@pytest.mark.parametrize("case", sorted(RAW))
async def test_a_lone_surrogate_is_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, case: str
) -> None:
    payload, field = RAW[case]
    envelope = grid_event("outage.detected", {})
    envelope.pop("payload")
    body = json.dumps(envelope)[:-1] + ', "payload": {' + payload + "}}"
    headers = {**admin, "content-type": "application/json"}
    problem = assert_problem(await client.post("/v1/events", content=body, headers=headers), 422, field)
    assert "surrogate" in " ".join(e["reason"] for e in problem["errors"])
    assert await event_count(engine) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_a_non_finite_kw_target_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, literal: str
) -> None:
    body = json.dumps(scheduled(target_kw=0.5)).replace("0.5", literal)
    headers = {**admin, "content-type": "application/json"}
    response = await client.post("/v1/events", content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(
        "target_kw" in error["field"] or error["field"] == "body" for error in response.json()["errors"]
    )
    assert await event_count(engine) == 0


async def test_the_largest_outage_an_event_may_name_is_accepted_and_folded(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, big_bodies: None
) -> None:
    premises = [f"P-{i:05d}" for i in range(MAX_NAMED_PREMISES)]
    event = detected(premise_ids=premises, transformer_ids=[f"T-{i}" for i in range(1_000)])
    response = await client.post("/v1/events", json=event, headers=admin)
    assert response.status_code == 201, response.text
    # A second report naming other premises of the same size checks the dedup query against it.
    other = detected(incident_id="o-2", premise_ids=[f"Q-{i:05d}" for i in range(MAX_NAMED_PREMISES)])
    assert (await client.post("/v1/events", json=other, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        rows = {row.incident_id: row for row in await conn.execute(select(outages))}
    assert len(rows["o-1"].premise_ids) == MAX_NAMED_PREMISES
    assert (rows["o-2"].canonical_incident_id, rows["o-1"].canonical_incident_id) == ("o-2", "o-1")


async def test_the_same_incident_id_with_other_content_widens_it_and_keeps_its_start(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    first = detected(premise_ids=["P-1"], cause="storm")
    first["occurred_at"] = "2026-11-30T06:00:00+00:00"
    again = detected(premise_ids=["P-2"], transformer_ids=["T-9"], cause=None)
    again["occurred_at"] = "2026-11-30T05:00:00+00:00"  # claims an earlier start
    for event in (first, again):
        assert (await client.post("/v1/events", json=event, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        row = (await conn.execute(select(outages))).one()
    assert (row.premise_ids, row.transformer_ids, row.cause) == (["P-1", "P-2"], ["T-9"], "storm")
    assert row.detected_at == datetime(2026, 11, 30, 6, tzinfo=UTC)

    # Restored, then the first report delivered late: the incident stays over.
    restored = grid_event("outage.restored", {"incident_id": "o-1", "restored_at": "2026-11-30T07:00:00Z"})
    assert (await client.post("/v1/events", json=restored, headers=admin)).status_code == 201
    late = {**first, "event_id": str(uuid.uuid4())}
    assert (await client.post("/v1/events", json=late, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        row = (await conn.execute(select(outages))).one()
    assert row.restored_at == datetime(2026, 11, 30, 7, tzinfo=UTC)


async def test_updates_of_an_unknown_incident_are_accepted_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    etr = grid_event("outage.etr_updated", {"incident_id": "nobody", "etr": "2026-12-01T10:00:00Z"})
    restored = grid_event("outage.restored", {"incident_id": "nobody", "restored_at": "2026-12-01T10:00:00Z"})
    for event in (etr, restored):
        assert (await client.post("/v1/events", json=event, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        assert (await conn.execute(select(outages))).first() is None


# --- GET /v1/dr-events/{id}/performance --------------------------------------------------------------
# case -> (path segment, status)
ODD_IDS = {
    "percent-encoded NUL": ("ev%00x", 422),
    "percent-encoded lone surrogate (CESU bytes)": ("ev%ED%A0%80", 404),
    "invalid UTF-8": ("ev%FF%FE", 404),
    "percent-encoded dot segments": ("%2E%2E%2F%2E%2E%2Fadmin", 404),
    "a space and quotes": ("ev%20%22x%27", 404),
}


@pytest.mark.parametrize("case", sorted(ODD_IDS))
async def test_an_odd_dr_event_id_in_the_path_is_a_4xx_problem(
    client: httpx.AsyncClient, admin: dict[str, str], case: str
) -> None:
    segment, status = ODD_IDS[case]
    answer = await client.get(f"/v1/dr-events/{segment}/performance", headers=admin)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == status and problem["detail"]


async def test_a_dr_event_id_longer_than_the_door_admits_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await client.get(f"/v1/dr-events/{'e' * 5_000}/performance", headers=admin)
    problem = assert_problem(answer, 422, "dr_event_id")
    assert "100 characters" in problem["errors"][0]["reason"]


@pytest.mark.parametrize("segment", ["ven/ev-1", "ven%2Fev-1"])
async def test_a_dr_event_id_holding_a_slash_reaches_the_report(
    client: httpx.AsyncClient, admin: dict[str, str], segment: str
) -> None:
    # The events door admits a slash in dr_event_id (an OpenADR event id may hold one): its report
    # is looked up under that id, not lost to the router's 404 for an unknown path.
    answer = await client.get(f"/v1/dr-events/{segment}/performance", headers=admin)
    assert answer.status_code == 404
    assert answer.json()["title"] == "Dr event not found"
    assert "'ven/ev-1'" in answer.json()["detail"]
