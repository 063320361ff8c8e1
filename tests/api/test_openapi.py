"""The OpenAPI document: every request body has an example; every operation documents its problems."""

from __future__ import annotations

from typing import Any

import httpx


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
