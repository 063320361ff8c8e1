"""`gridjourney codec-server` over real HTTP: what the Temporal UI sends, for admin keys only."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload

from gridjourney.api.auth import create_key
from gridjourney.cli.codec_server import serve_codec_server
from gridjourney.config import Settings
from gridjourney.privacy.codec import EncryptionCodec
from gridjourney.privacy.keyring import keyring_from_settings

UI_ORIGIN = "http://localhost:8233"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone":"+15035550123"}')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_json(payload: Payload) -> dict[str, object]:
    """A payload as the Temporal UI sends it: metadata values and data in base64."""
    return {
        "metadata": {key: base64.b64encode(value).decode() for key, value in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, codec_server_cors_origins=[UI_ORIGIN])


@pytest.fixture
async def codec_server(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    port = _free_port()
    server = asyncio.create_task(serve_codec_server(settings, database_url, "127.0.0.1", port))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(200):  # until it listens
            try:
                await http.options("/decode")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        try:
            yield http
        finally:
            server.cancel()
            with pytest.raises(asyncio.CancelledError):
                await server


async def _bearer(engine: AsyncEngine, *scopes: str) -> dict[str, str]:
    _, key = await create_key(engine, "operator", list(scopes))
    return {"Authorization": f"Bearer {key}"}


async def test_an_operator_decodes_what_the_workers_sealed_and_encodes_too(
    codec_server: httpx.AsyncClient, settings: Settings, engine: AsyncEngine
) -> None:
    codec = EncryptionCodec(keyring_from_settings(settings))
    [sealed] = await codec.encode([PLAIN])
    admin = await _bearer(engine, "admin")
    headers = admin | {"X-Namespace": "default", "Origin": UI_ORIGIN}

    decoded = await codec_server.post(
        "/decode", json={"payloads": [as_json(sealed), as_json(PLAIN)]}, headers=headers
    )
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [as_json(PLAIN), as_json(PLAIN)]}
    assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN

    encoded = await codec_server.post("/encode", json={"payloads": [as_json(PLAIN)]}, headers=headers)
    assert encoded.status_code == 200, encoded.text
    [payload] = encoded.json()["payloads"]
    assert b"+15035550123" not in base64.b64decode(payload["data"])
    reopened = Payload(
        metadata={key: base64.b64decode(value) for key, value in payload["metadata"].items()},
        data=base64.b64decode(payload["data"]),
    )
    assert await codec.decode([reopened]) == [PLAIN]


async def test_only_admin_keys_may_decode(
    codec_server: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    [sealed] = await EncryptionCodec(keyring_from_settings(settings)).encode([PLAIN])
    body = {"payloads": [as_json(sealed)]}
    anonymous = await codec_server.post("/decode", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    reader = await codec_server.post("/decode", json=body, headers=await _bearer(engine, "journeys:read"))
    assert reader.status_code == 403
    assert "+15035550123" not in anonymous.text + reader.text


async def test_the_ui_origin_may_call_it_from_a_browser_and_others_may_not(
    codec_server: httpx.AsyncClient,
) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }

    allowed = await codec_server.options("/decode", headers=preflight(UI_ORIGIN))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    refused = await codec_server.options("/decode", headers=preflight("http://evil.example"))
    assert "access-control-allow-origin" not in refused.headers


async def test_bad_payloads_get_a_clear_error(codec_server: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await _bearer(engine, "admin")
    malformed = await codec_server.post(
        "/decode", json={"payloads": [{"data": "not base64!"}]}, headers=admin
    )
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["errors"][0]["field"] == "payloads"
    foreign = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"gone"}, data=b"x" * 40
    )
    unknown_key = await codec_server.post("/decode", json={"payloads": [as_json(foreign)]}, headers=admin)
    assert unknown_key.status_code == 422
    assert unknown_key.json()["errors"] == [{"field": "payloads", "reason": "UnknownKeyId"}]


async def test_an_oversized_body_is_refused_before_anything_reads_it(
    codec_server: httpx.AsyncClient, settings: Settings
) -> None:
    body = b'{"payloads": [{"data": "' + b"A" * (settings.max_event_body_bytes + 1) + b'"}]}'
    response = await codec_server.post("/decode", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
