"""The content type is checked before the size, on every route that takes a body: a large body of a
type the route does not take is 415 (naming the types it takes), never 413 first; a large body of a
type it takes is 413. Both refusals read the body as it streams in: the 415 at most its first chunk,
the 413 never much past the limit. The routes come from the OpenAPI document, so a new route that
takes a body is covered as soon as it is documented."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gridjourney.api.body_types import SYNONYMS, is_json, takes
from gridjourney.api.routes.reads import MAX_GREENBUTTON_BYTES
from gridjourney.config import Settings
from tests.api.test_events import assert_problem, bill_event

CHUNK = 16_384
# Path parameters: any value the route's pattern accepts (the refusals come before any lookup).
PARAMETER_VALUES = {"customer_id": "C-1", "journey_id": "high_bill_alert"}
# Types no route documents, and (per route) the documented types of the other routes.
FOREIGN_TYPES = ("application/octet-stream", "text/plain")


class Counted:
    """A chunked body one chunk over `limit` (no Content-Length), counting the chunks the server pulled.
    Chunks are 16 kB, or a 64th of the limit for a large one (the Green Button route's 64 MB)."""

    def __init__(self, limit: int) -> None:
        self.chunk = max(CHUNK, limit // 64)
        self.size = limit + self.chunk
        self.most_needed = limit // self.chunk + 1  # chunks that reach past the limit
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"x" * self.chunk
        for _ in range(self.size // self.chunk):
            self.pulled += 1
            yield chunk


def body_operations(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path with its parameters filled in, documented types) of every operation with a body."""
    operations = []
    for template, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            if "requestBody" in operation:
                path = re.sub(r"\{(\w+)\}", lambda match: PARAMETER_VALUES[match.group(1)], template)
                operations.append((method.upper(), path, list(operation["requestBody"]["content"])))
    return operations


def size_limit(path: str, settings: Settings) -> int:
    return MAX_GREENBUTTON_BYTES if path.endswith("/reads/greenbutton") else settings.max_event_body_bytes


async def test_every_route_checks_the_type_before_the_size(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    operations = body_operations(app)
    documented_anywhere = {media for _, _, types in operations for media in types}
    assert len(operations) >= 10  # events, journeys, instances, retire, backtest, reads, push, 3 webhooks
    for method, path, documented in operations:
        limit = size_limit(path, settings)
        wrong = [media for media in (*FOREIGN_TYPES, *documented_anywhere) if not takes(media, documented)]
        if not any(is_json(media) for media in documented):
            wrong.append("")  # no Content-Type is JSON: refused where JSON is not taken
        assert wrong, path
        for media in wrong:
            oversized = Counted(limit)
            headers = admin | ({"Content-Type": media} if media else {})
            response = await client.request(method, path, content=oversized, headers=headers)
            problem = assert_problem(response, 415, "Content-Type")
            assert problem["accepted"] == documented, (path, media)
            assert response.headers["Accept-Post"] == ", ".join(documented), (path, media)
            assert oversized.pulled <= 1, (path, media)  # refused on the first chunk, at most
            small = await client.request(method, path, content=b"{}", headers=headers)
            assert small.status_code == 415, (path, media, small.text)
        for media in documented:
            oversized = Counted(limit)
            headers = admin | {"Content-Type": media}
            response = await client.request(method, path, content=oversized, headers=headers)
            assert_problem(response, 413, "body")
            assert oversized.pulled <= oversized.most_needed, (path, media)  # never read far past the limit


async def test_synonyms_of_a_documented_type_are_taken(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    # Each synonym reaches the route, which reads it (413 from the route's own bounded read).
    for documented, synonyms in SYNONYMS.items():
        path = "/v1/journeys" if "yaml" in documented else "/v1/customers/C-1/reads/greenbutton"
        limit = size_limit(path, settings)
        for media in synonyms:
            response = await client.post(
                path, content=Counted(limit), headers=admin | {"Content-Type": media}
            )
            assert_problem(response, 413, "body")


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    body = Counted(settings.max_event_body_bytes)
    # Content-Length given by hand: httpx then sends the stream as it is, unchunked.
    headers = admin | {"Content-Type": "application/json", "Content-Length": str(body.size)}
    assert_problem(await client.post("/v1/events", content=body, headers=headers), 413, "body")
    assert body.pulled == 0


async def test_a_request_without_a_body_is_not_refused_for_its_type(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # `curl -X POST -d ''` labels its empty body as a form: the route runs (an unknown journey: 404).
    form = admin | {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/v1/journeys/no_such_journey/retire", content=b"", headers=form)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("media", ["application/json", "application/json; charset=utf-8", ""])
async def test_json_of_every_spelling_still_reaches_the_events_route(
    client: httpx.AsyncClient, admin: dict[str, str], media: str
) -> None:
    headers = admin | ({"Content-Type": media} if media else {})
    response = await client.post("/v1/events", content=json.dumps(bill_event()).encode(), headers=headers)
    assert response.status_code == 201, response.text
