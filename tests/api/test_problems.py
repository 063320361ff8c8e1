"""Every class of bad input and every failure answers application/problem+json: never text/plain."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from tests.api.test_events import assert_problem, bill_event, event_count
from tests.dsl.test_loader_bounds import billion_laughs, deeply_nested

JSON = {"Content-Type": "application/json"}


async def post_raw(client: httpx.AsyncClient, body: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/v1/events", content=body.encode("utf-8", "surrogatepass"), headers=headers | JSON
    )


def event_with(value: str) -> str:
    """A bill event whose projected_amount is `value`, verbatim JSON."""
    return (
        '{"event_id": "0b7f6c1e-3d2a-4f7b-9a51-2f8c1d9e4a10", "type": "bill.projection_updated", '
        '"customer_id": "C-1", "occurred_at": "2025-07-14T08:00:00Z", "source": "billing", '
        f'"payload": {{"projected_amount": {value}, "typical_amount": 1.0, "days_left": 3}}}}'
    )


@pytest.mark.parametrize(
    "value", ["Infinity", "-Infinity", "NaN", "1e400", "9223372036854775808", "1" * 5000]
)
async def test_numbers_no_route_can_store_are_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, value: str
) -> None:
    assert_problem(await post_raw(client, event_with(value), admin), 422, "payload.projected_amount")
    assert await event_count(engine) == 0


@pytest.mark.parametrize("text", [r'"\ud800"', r'"a\u0000b"', r'"\udfff tail"'])
async def test_nul_and_lone_surrogates_in_json_are_refused_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], text: str
) -> None:
    body = event_with("1.0").replace('"source": "billing"', f'"source": {text}')
    assert_problem(await post_raw(client, body, admin), 422, "source")
    nested = event_with("1.0").replace('"days_left": 3', f'"days_left": 3, "note": {{"deep": [{text}]}}')
    assert_problem(await post_raw(client, nested, admin), 422, "payload.note.deep[0]")
    key = event_with("1.0").replace('"days_left": 3', f'"days_left": 3, {text}: 1')
    assert_problem(await post_raw(client, key, admin), 422, "payload")


async def test_nul_in_path_or_query_is_refused_before_routing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert_problem(await client.get("/v1/customers/C-1%00", headers=admin), 422, "path")
    assert_problem(await client.get("/v1/messages?customer_id=C%001", headers=admin), 422, "customer_id")


async def test_json_nested_beyond_the_parser_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert_problem(await post_raw(client, "[" * 10_000 + "]" * 10_000, admin), 422, "body")


async def test_json_bodies_of_every_route_are_guarded(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # The start-an-instance route parses its own JSON body; the guard answers before it does.
    url = "/v1/journeys/high_bill_alert/instances"
    response = await client.post(url, content=b'{"customer_id": "C\\u0000"}', headers=admin | JSON)
    assert_problem(response, 422, "customer_id")
    oversized = b'{"customer_id": "' + b"x" * 60_000 + b'"}'
    assert_problem(await client.post(url, content=oversized, headers=admin | JSON), 413, "body")


async def test_nul_bytes_in_a_yaml_upload_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/journeys", content=b"id: x\x00\n", headers=admin | {"Content-Type": "application/yaml"}
    )
    assert_problem(response, 422, "body")


@pytest.fixture
def failing_app(
    settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> FastAPI:
    """The real app with two routes added that fail as a bug and as a Temporal outage would."""
    app = create_app(settings, engine, temporal_provider)

    async def bug() -> None:
        raise ValueError("the payload of +15035550142 was odd")  # text that must never be shown or logged

    async def temporal_down() -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    app.add_api_route("/test/bug", bug)
    app.add_api_route("/test/temporal-down", temporal_down)
    return app


@pytest.fixture
async def failing_client(failing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=failing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


async def test_an_unexpected_error_is_a_500_problem_without_its_text(
    failing_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = await failing_client.get("/test/bug")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "5550142" not in response.text and "odd" not in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "ValueError" in logged and "/test/bug" in logged
    assert "5550142" not in logged and "odd" not in logged


async def test_a_temporal_outage_is_a_503_with_retry_after(failing_client: httpx.AsyncClient) -> None:
    response = await failing_client.get("/test/temporal-down")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert response.json()["type"].endswith("temporal-unavailable")


async def test_unreachable_temporal_is_a_503_with_retry_after(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/instances/journey:high_bill_alert:C-1/cancel", headers=admin)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    assert "127.0.0.1" not in response.text  # no connection details


async def test_a_database_outage_is_a_503_with_retry_after(
    settings: Settings, temporal_provider: TemporalClientProvider
) -> None:
    # Nothing listens on port 1: every connection is refused, as while Postgres is down or restarting.
    down = create_engine("postgresql://gridjourney@127.0.0.1:1/gridjourney")
    app = create_app(settings, down, temporal_provider, dispose_engine=True)
    headers = {"Authorization": "Bearer gj_0123456789abcdef_secret"}
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/events", bill_event()),
        ("GET", "/v1/customers/C-1", None),
        ("GET", "/v1/messages", None),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http:
            for method, url, body in requests:
                response = await http.request(method, url, json=body, headers=headers)
                assert response.status_code == 503, (url, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert int(response.headers["retry-after"]) > 0
                assert response.json()["type"].endswith("database-unavailable")
                assert "127.0.0.1" not in response.text  # no connection details
    finally:
        await down.dispose()


@pytest.mark.parametrize("name", ["billion_laughs", "deeply_nested"])
async def test_hostile_journey_yaml_is_a_fast_422_with_its_position(
    client: httpx.AsyncClient, admin: dict[str, str], name: str
) -> None:
    text = billion_laughs() if name == "billion_laughs" else deeply_nested(5_000)
    started = time.monotonic()
    response = await client.post(
        "/v1/journeys", content=text, headers=admin | {"Content-Type": "application/yaml"}
    )
    assert time.monotonic() - started < 5
    problem = assert_problem(response, 422, "body")
    assert problem["errors"][0]["line"] >= 1 and problem["errors"][0]["column"] >= 1


async def test_a_wrong_method_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # GET and DELETE of a customer are two routes; the 405 must name both.
    response = await client.request("OPTIONS", "/v1/customers/C-1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.put("/v1/journeys")).headers["allow"] == "GET, POST"
