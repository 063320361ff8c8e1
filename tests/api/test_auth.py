"""API keys: 401 without or with a bad key, 403 with the wrong scope; the keys CLI end to end."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.api.auth import authenticate, create_key, list_keys, revoke_key
from gridjourney.cli.keys import keys_app
from gridjourney.config import Settings, get_settings
from tests.api.conftest import KeyFactory

# The API trusts a key it has read for this long (api/key_cache.py): a revocation is seen after it.
KEY_CACHE_SECONDS = 0.2


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        templates_dir=tmp_path / "templates",
        max_event_body_bytes=50_000,
        api_key_cache_seconds=KEY_CACHE_SECONDS,
    )


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_no_key_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get("/v1/journeys"))
    assert_unauthorized(await client.post("/v1/events", json={}))


@pytest.mark.parametrize("key", ["nonsense", "gj_", "gj_abc_def", "Bearer"])
async def test_malformed_or_unknown_key_is_401(client: httpx.AsyncClient, key: str) -> None:
    assert_unauthorized(await client.get("/v1/journeys", headers={"Authorization": f"Bearer {key}"}))
    assert_unauthorized(await client.get("/v1/journeys", headers={"X-API-Key": key}))


async def test_wrong_secret_is_401(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    headers = await make_key("journeys:read")
    assert (await client.get("/v1/journeys", headers=headers)).status_code == 200
    tampered = headers["Authorization"][:-2] + ("AA" if not headers["Authorization"].endswith("AA") else "BB")
    assert_unauthorized(await client.get("/v1/journeys", headers={"Authorization": tampered}))


async def test_wrong_scope_is_403(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    reader = await make_key("journeys:read")
    response = await client.post("/v1/events", json={}, headers=reader)
    assert response.status_code == 403
    assert "events:write" in response.json()["detail"]
    writer = await make_key("events:write")
    assert (await client.get("/v1/messages", headers=writer)).status_code == 403
    # The scope is checked before the body: a writer gets the body's problem, not 403.
    assert (await client.post("/v1/events", json={}, headers=writer)).status_code == 422


async def test_admin_implies_every_scope_and_x_api_key_works(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    _, key = await create_key(engine, "ops", ["admin"])
    assert (await client.get("/v1/journeys", headers={"X-API-Key": key})).status_code == 200
    assert (await client.post("/v1/events", json={}, headers={"X-API-Key": key})).status_code == 422


async def test_revoked_key_is_401(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    key_id, key = await create_key(engine, "billing", ["events:write", "journeys:read"])
    assert (await authenticate(engine, key)) is not None
    assert await revoke_key(engine, key_id)
    assert not await revoke_key(engine, key_id)  # already revoked
    assert_unauthorized(await client.get("/v1/journeys", headers={"Authorization": f"Bearer {key}"}))
    (info,) = await list_keys(engine)
    assert info.revoked_at is not None and info.scopes == ["events:write", "journeys:read"]


async def test_unknown_scope_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        await create_key(engine, "x", ["events:read"])


async def test_keys_cli_create_list_revoke(
    client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(keys_app, list(args))
        return result.exit_code, result.output

    try:
        # The CLI runs its own event loop (asyncio.run), so it is called from a thread here.
        code, output = await asyncio.to_thread(
            invoke, "create", "--name", "billing", "--scope", "events:write"
        )
        assert code == 0, output
        key = re.search(r"^(gj_\S+)$", output, re.MULTILINE)
        assert key is not None, output
        key_id = key.group(1).split("_")[1]
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        assert (await client.post("/v1/events", json={}, headers=headers)).status_code == 422  # authenticated
        code, output = await asyncio.to_thread(invoke, "list")
        assert code == 0 and key_id in output and "billing" in output and key.group(1) not in output
        assert (await asyncio.to_thread(invoke, "revoke", key_id))[0] == 0
        assert (await asyncio.to_thread(invoke, "revoke", key_id))[0] == 1
        await asyncio.sleep(KEY_CACHE_SECONDS)
        assert_unauthorized(await client.post("/v1/events", json={}, headers=headers))
        code, output = await asyncio.to_thread(invoke, "create", "--name", "x", "--scope", "root")
        assert code != 0 and "unknown scope" in output
    finally:
        get_settings.cache_clear()
