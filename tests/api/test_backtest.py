"""POST /v1/journeys/backtest: the CLI's backtest over HTTP, with problem+json for bad input."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.dsl import registry
from tests.api.conftest import KeyFactory
from tests.backtest.builders import JOURNEY, append, at, customer, projection, write_templates


async def test_a_journey_given_as_yaml_is_replayed(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, make_key: KeyFactory
) -> None:
    write_templates(settings.templates_dir)
    await append(
        engine,
        [
            *customer("c-1", at("2025-12-01T10:00:00"), phone="+15035550101"),
            projection("c-1", at("2026-01-05T12:00:00")),
        ],
    )
    body = {"source_yaml": JOURNEY, "from": "2026-01-01", "to": "2026-01-31"}
    headers = await make_key("journeys:read")
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["from"], report["to"]) == ("2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00")
    assert (report["events_in_range"], report["entered"]) == (1, 1)
    assert report["steps"][0]["messages"] == [
        {"channel": "sms", "template": "nudge", "locale": "en", "count": 1}
    ]

    await registry.publish(engine, JOURNEY, "bill_nudge.yaml", settings.templates_dir)
    published = {"journey_id": "bill_nudge", "from": "2026-01-01", "to": "2026-01-31"}
    response = await client.post("/v1/journeys/backtest", json=published, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == report


async def test_bad_input_is_problem_json_naming_the_field(
    client: httpx.AsyncClient, settings: Settings, make_key: KeyFactory
) -> None:
    write_templates(settings.templates_dir)
    headers = await make_key("journeys:read")
    body = {"source_yaml": JOURNEY, "from": "yesterday", "to": "2026-01-31T00:00:00"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["from", "to"]  # `to` has no zone

    body = {"journey_id": "other", "source_yaml": JOURNEY, "from": "2026-01-01", "to": "2026-01-31"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "source_yaml"

    broken = JOURNEY.replace("bill.projection_updated", "bill.projection_update")
    body = {"source_yaml": broken, "from": "2026-01-01", "to": "2026-01-31"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["line"]) == ("source_yaml", 4)
    assert "bill.projection_updated" in error["hint"]

    body = {"journey_id": "nowhere", "from": "2026-01-01", "to": "2026-01-31"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "journey_id"

    body = {"from": "2026-01-01", "to": "2026-01-31"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "journey_id"


async def test_a_period_outside_the_years_an_event_log_holds_is_a_422_not_an_overflow(
    client: httpx.AsyncClient, settings: Settings, make_key: KeyFactory
) -> None:
    write_templates(settings.templates_dir)
    headers = await make_key("journeys:read")
    for start, end, field in (("0001-01-01", "2026-01-31", "from"), ("2026-01-01", "9999-12-31", "to")):
        body = {"source_yaml": JOURNEY, "from": start, "to": end}
        response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == field and "between the years 1900 and 2199" in error["reason"]


async def test_a_journey_called_backtest_is_still_read_at_its_own_path(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, make_key: KeyFactory
) -> None:
    write_templates(settings.templates_dir)
    headers = await make_key("journeys:read")
    assert (await client.get("/v1/journeys/backtest", headers=headers)).status_code == 404
    await registry.publish(
        engine, JOURNEY.replace("id: bill_nudge", "id: backtest"), "backtest.yaml", settings.templates_dir
    )
    response = await client.get("/v1/journeys/backtest", headers=headers)
    assert response.status_code == 200 and response.json()["journey_id"] == "backtest"


async def test_a_schedule_that_would_fire_too_often_in_the_period_is_a_422_not_hours_of_work(
    client: httpx.AsyncClient, settings: Settings, make_key: KeyFactory
) -> None:
    write_templates(settings.templates_dir)
    hourly = """\
id: hourly_nudge
purpose: informational
trigger:
  schedule: {cron: "0 * * * *"}
  audience: "True"
steps:
  - id: nudge
    send: {channels: [email], template: tips}
"""
    headers = await make_key("journeys:read")
    body = {"source_yaml": hourly, "from": "1900-01-01", "to": "2199-12-31"}
    response = await client.post("/v1/journeys/backtest", json=body, headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "to" and "more than 2000 times" in error["reason"]
