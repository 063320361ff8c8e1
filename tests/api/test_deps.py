"""The route dependencies: the bare route of POST /v1/events reads the API key as FastAPI's security
schemes do; every paged list refuses a query parameter it does not read."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from gridjourney.api.deps import _api_key_header, _bearer, _raw_key

HEADER_SETS = [
    {},
    {"Authorization": "Bearer gj_a_b"},
    {"Authorization": "bearer   gj_a_b  "},
    {"Authorization": "BEARER gj_a_b_c"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": ""},
    {"X-API-Key": "gj_x_y"},
    {"X-API-Key": ""},
    {"Authorization": "Bearer gj_a_b", "X-API-Key": "gj_x_y"},
    {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": "gj_x_y"},
    {"Authorization": "Bearer ", "X-API-Key": "gj_x_y"},
    {"authorization": "Bearer gj_lower_case", "x-api-key": "gj_x_y"},
]


def _request(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/v1/events", "headers": raw})


@pytest.mark.parametrize("headers", HEADER_SETS, ids=lambda headers: repr(headers))
async def test_the_bare_route_reads_the_key_as_the_documented_schemes(headers: dict[str, str]) -> None:
    request = _request(headers)
    bearer = await _bearer(request)
    documented = bearer.credentials if bearer is not None else await _api_key_header(request)
    assert _raw_key(request) == documented


async def test_every_paged_list_refuses_an_unknown_query_parameter(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """A filter a list does not have (`/v1/sends?customer_id=`) is a 422 naming it on every paged list
    (a GET reading `cursor`), not ignored (which answered with rows of every customer)."""
    lists = [
        path
        for path, operations in app.openapi()["paths"].items()
        if any(param["name"] == "cursor" for param in operations.get("get", {}).get("parameters", []))
    ]
    assert len(lists) >= 6  # journeys, a journey's instances, messages, sends, suppressions, timeline
    for path in lists:
        url = re.sub(r"{[^}]+}", "x", path)
        answer = await client.get(url, params={"limit": 1, "customr": "C-1"}, headers=admin)
        assert answer.status_code == 422, (path, answer.text)
        assert [error["field"] for error in answer.json()["errors"]] == ["customr"], path
