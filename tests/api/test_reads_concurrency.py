"""An upload's parse runs off the event loop: the API keeps answering while a big file is read."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gridjourney.api.routes import reads
from gridjourney.metering import greenbutton
from gridjourney.metering.greenbutton import ParsedFile
from tests.api.conftest import KeyFactory

SAMPLE = Path(__file__).parents[1] / "metering" / "data" / "coastal_multi_family_hourly_2011.xml"
URL = "/v1/customers/cust-9/reads/greenbutton"
# Only a safety net for the test itself (a parse on the loop never lets /healthz in): no figure is asserted.
HELD_AT_MOST_S = 30


async def test_healthz_answers_while_an_upload_is_being_parsed(
    client: httpx.AsyncClient, make_key: KeyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsing, finish = threading.Event(), threading.Event()
    released_by_the_test: list[bool] = []
    real_parse = greenbutton.parse_greenbutton

    def held_parse(data: bytes, customer_id: str, **options: str | None) -> ParsedFile:
        # The parse, held open until the test has had its /healthz answer: the upload is in flight then.
        # On the event loop, it would wait in vain: the test could not run to release it.
        parsing.set()
        released_by_the_test.append(finish.wait(HELD_AT_MOST_S))
        return real_parse(data, customer_id, **options)

    monkeypatch.setattr(greenbutton, "parse_greenbutton", held_parse)
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    upload = asyncio.create_task(client.post(URL, content=SAMPLE.read_bytes(), headers=headers))
    assert await asyncio.to_thread(parsing.wait, HELD_AT_MOST_S), "the upload never reached its parse"
    health = await client.get("/healthz")
    # Answered (503: this client's Temporal is down, as in test_health) while the parse still waits.
    upload_pending = not upload.done()
    finish.set()
    response = await upload
    assert health.status_code == 503 and health.json()["database"]["status"] == "ok"
    assert released_by_the_test == [True] and upload_pending
    assert response.status_code == 200, response.text
    assert response.json()["reads_stored"] == 8760


async def test_hostile_uploads_answer_422_with_the_position(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    body = b"<feed><x:y/>" + b"<!--" * 500_000  # 2 MB of the reviewer's file
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "body.feed (line 1)" and error["line"] == 1
    assert error["reason"] == "malformed XML: not well-formed (invalid token) at column 21"


async def test_beyond_the_import_slots_an_upload_waits_then_gets_503_and_nothing_is_lost(
    client: httpx.AsyncClient, make_key: KeyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file at the limit can take about 0.7 GB parsed: three at once from one key took an API
    # process from 1.5 to 3.8 GB. The wait is shortened (a setting of the module, not a mock).
    monkeypatch.setattr(reads, "IMPORT_SLOT_WAIT_S", 0.5)
    parsing, finish = threading.Semaphore(0), threading.Event()
    real_parse = greenbutton.parse_greenbutton

    def held_parse(data: bytes, customer_id: str, **options: str | None) -> ParsedFile:
        parsing.release()
        finish.wait(HELD_AT_MOST_S)
        return real_parse(data, customer_id, **options)

    monkeypatch.setattr(greenbutton, "parse_greenbutton", held_parse)
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    body = SAMPLE.read_bytes()
    held = [
        asyncio.create_task(
            client.post(f"/v1/customers/cust-{n}/reads/greenbutton", content=body, headers=headers)
        )
        for n in range(reads.IMPORTS_AT_ONCE)
    ]
    for _ in held:
        assert await asyncio.to_thread(parsing.acquire, True, HELD_AT_MOST_S), (
            "an upload never reached its parse"
        )
    refused = await client.post("/v1/customers/cust-x/reads/greenbutton", content=body, headers=headers)
    finish.set()
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith("imports-busy") and refused.headers["Retry-After"]
    assert [(await upload).status_code for upload in held] == [200] * reads.IMPORTS_AT_ONCE
    again = await client.post("/v1/customers/cust-x/reads/greenbutton", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["reads_stored"] == 8760  # the slots are free again


async def test_a_body_trickling_in_past_the_deadline_is_408_and_frees_its_slot(
    client: httpx.AsyncClient, make_key: KeyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sender sending a byte a second held an import slot as long as it liked: two of them stopped
    # every import of an API process (review R5). The deadline is shortened (a module setting).
    monkeypatch.setattr(reads, "BODY_READ_DEADLINE_S", 0.5)
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}

    async def trickle() -> AsyncIterator[bytes]:
        for byte in b"<feed>":
            yield bytes([byte])
            await asyncio.sleep(0.3)

    slow = await client.post("/v1/customers/cust-1/reads/greenbutton", content=trickle(), headers=headers)
    assert slow.status_code == 408, slow.text
    assert slow.json()["type"].endswith("body-too-slow")
    # both slots are free: two imports at once still go through
    body = SAMPLE.read_bytes()
    urls = [f"/v1/customers/{who}/reads/greenbutton" for who in ("cust-a", "cust-b")]
    both = await asyncio.gather(*(client.post(url, content=body, headers=headers) for url in urls))
    assert [response.status_code for response in both] == [200, 200]
