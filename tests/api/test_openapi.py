"""The OpenAPI document: every request body has an example; every operation documents its problems."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs

from gridjourney.api.routes.events import INTEGRATION_EVENT_TYPES


async def test_every_request_body_has_an_example(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "gridjourney"
    bodies = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body: dict[str, Any] | None = operation.get("requestBody")
            if body is None:
                continue
            for media_type, content in body["content"].items():
                bodies += 1
                assert content.get("examples") or content.get("example"), (
                    f"{method.upper()} {path} {media_type}"
                )
    assert bodies >= 4  # events, journeys (2 YAML types), instances


async def test_protected_operations_declare_401(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert "401" in operation["responses"], f"{method.upper()} {path}"
                assert operation.get("security"), f"{method.upper()} {path}"


async def test_the_events_body_documents_each_type_with_its_payload(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    single, batch = body["schema"]["oneOf"]
    by_type = {schema["properties"]["type"]["const"]: schema for schema in single["oneOf"]}
    assert sorted(by_type) == INTEGRATION_EVENT_TYPES
    created = by_type["customer.created"]
    assert created["properties"]["payload"]["properties"]["name"]["anyOf"][0]["maxLength"] == 200
    assert "customer_id" in created["required"] and "customer_id" in by_type["bill.issued"]["required"]
    assert "customer_id" not in by_type["outage.detected"]["required"]
    assert by_type["bill.projection_updated"]["properties"]["payload"]["required"] == [
        "projected_amount",
        "typical_amount",
        "days_left",
    ]
    assert batch["properties"]["events"]["items"] == single
    validator = jsonschema_rs.validator_for(body["schema"])
    for example in body["examples"].values():
        assert validator.is_valid(example["value"]), example["summary"]


async def test_every_path_answers_other_methods_with_405_and_its_documented_methods(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    # A concrete path may match several templates (/v1/journeys/backtest is also /v1/journeys/{id}):
    # it allows the methods of all of them.
    matchers = [
        (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"), operations)
        for t, operations in document["paths"].items()
    ]
    for template in document["paths"]:
        path = re.sub(r"\{[^}]+\}", "x", template)
        documented = sorted({m.upper() for matcher, ops in matchers if matcher.match(path) for m in ops})
        for method in sorted({"DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"} - set(documented)):
            response = await client.request(method, path)
            assert response.status_code == 405, f"{method} {template}: {response.status_code}"
            assert response.headers["allow"] == ", ".join(documented), f"{method} {template}"
            assert response.headers["content-type"].startswith("application/problem+json")
