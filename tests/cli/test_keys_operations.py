"""`gridjourney keys rotate` and what `keys list` shows operators: the last use and the expiry."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.auth import authenticate, create_key, list_keys, revoke_key
from gridjourney.api.deps import lazy_temporal_client
from gridjourney.config import Settings
from gridjourney.temporal import data_converter
from tests.cli.in_process import gridjourney_in_process

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


async def _gridjourney(database_url: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "120", "GRIDJOURNEY_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        str(GRIDJOURNEY), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode()


# As installed: the table's width is the COLUMNS a fresh process starts with (in the test's process, the
# command module's console keeps the width it was imported with).
async def test_rotate_prints_a_working_successor_and_list_shows_last_use(
    engine: AsyncEngine, database_url: str
) -> None:
    key_id, key = await create_key(engine, "billing", ["events:write"])
    assert await authenticate(engine, key) is not None  # noted as used

    code, out = await _gridjourney(database_url, "keys", "rotate", key_id, "--grace-minutes", "10")
    assert code == 0, out
    new_key = out.strip().splitlines()[-1]
    successor = await authenticate(engine, new_key)
    assert successor is not None and successor.key_id != key_id and successor.name == "billing"
    assert await authenticate(engine, key) is not None  # the grace period

    code, out = await _gridjourney(database_url, "keys", "list")
    assert code == 0, out
    header = next(line for line in out.splitlines() if "key id" in line)
    assert "last used" in header and "ends" in header
    [old_line] = [line for line in out.splitlines() if key_id in line]
    # created, last used and (the grace period's) expiry: three timestamps on the old key's line
    assert old_line.count(":") >= 3, out
    assert "expires 20" in old_line, out

    code, out = await _gridjourney(database_url, "keys", "rotate", "nope")
    assert code == 1 and "no active key" in out


async def test_an_expiry_or_grace_beyond_what_dates_can_hold_is_a_usage_error(database_url: str) -> None:
    for args in (
        ("keys", "create", "--name", "x", "--scope", "admin", "--expires-in-days", "1e308"),
        ("keys", "create", "--name", "x", "--scope", "admin", "--expires-in-days", "inf"),
        ("keys", "rotate", "k", "--grace-minutes", "1e308"),
    ):
        code, output = await gridjourney_in_process(database_url, *args)
        assert code == 2, output
        assert "Invalid value" in output and "Traceback" not in output


# As installed (a fresh process): a name that is not UTF-8 reaches the command as the shell passes it.
async def test_a_name_the_key_table_cannot_hold_is_a_usage_error(database_url: str) -> None:
    for name in ("n" * 201, " ", "bad\udcff"):  # too long, blank, a lone surrogate (invalid UTF-8 bytes)
        code, output = await _gridjourney(database_url, "keys", "create", "--name", name, "--scope", "admin")
        assert code == 2, output
        assert "Invalid value for --name" in output and "Traceback" not in output


async def test_an_expired_key_is_told_expired_only_to_its_holder(engine: AsyncEngine, tmp_path: Path) -> None:
    expired = datetime.now(UTC) - timedelta(hours=1)
    key_id, key = await create_key(engine, "billing", ["events:write"], expires_at=expired)
    revoked_id, revoked = await create_key(engine, "old", ["events:write"], expires_at=expired)
    await revoke_key(engine, revoked_id)
    settings = Settings(home=tmp_path / "home", api_key_cache_seconds=0)
    app = create_app(
        settings, engine, lazy_temporal_client("127.0.0.1:1", "default", data_converter(settings))
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:

        async def detail(raw: str) -> str:
            answer = await http.get("/v1/journeys", headers={"Authorization": f"Bearer {raw}"})
            assert answer.status_code == 401, answer.text
            return str(answer.json()["detail"])

        assert f"the API key expired at {expired:%Y-%m-%d %H:%M} UTC" in await detail(key)
        # Without the secret, the key id of an expired key reads as any unknown key: nothing is told.
        for guess in (f"gj_{key_id}_wrong-secret", revoked, "gj_nosuchkey_secret"):
            assert "unknown, revoked or malformed" in await detail(guess)


async def test_a_key_cannot_be_created_already_expired(database_url: str) -> None:
    for days in ("0", "-1"):
        args = ("keys", "create", "--name", "x", "--scope", "admin", "--expires-in-days", days)
        code, output = await gridjourney_in_process(database_url, *args)
        assert code == 2, output
        assert "Invalid value for --expires-in-days" in output and "not more than 0 days" in output
    code, output = await gridjourney_in_process(database_url, "keys", "list")
    assert "no API keys yet" in output, output  # nothing was created
    code, output = await gridjourney_in_process(
        database_url, "keys", "create", "--name", "x", "--scope", "admin", "--expires-in-days", "0.5"
    )
    assert code == 0, output


async def test_rotate_says_one_minute_in_the_singular(engine: AsyncEngine, database_url: str) -> None:
    for grace, said in (("1", "stops in 1 minute, at 20"), ("2", "stops in 2 minutes, at 20")):
        key_id, _ = await create_key(engine, "billing", ["events:write"])
        code, output = await gridjourney_in_process(
            database_url, "keys", "rotate", key_id, "--grace-minutes", grace
        )
        assert code == 0 and said in output, output


async def test_rotate_says_when_the_old_key_really_stops(engine: AsyncEngine, database_url: str) -> None:
    """A grace beyond the key's own expiry does not extend it: the old key stops at that expiry, and
    rotate says so (not "in 60 minutes"); with a grace within it, the time the grace ends."""
    expires = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    key_id, _ = await create_key(engine, "billing", ["events:write"], expires_at=expires)
    code, output = await gridjourney_in_process(
        database_url, "keys", "rotate", key_id, "--grace-minutes", "60"
    )
    assert code == 0, output
    assert f"stops at its own expiry, {expires:%Y-%m-%d %H:%M:%S} UTC, sooner than the 60 minutes" in output
    assert "in 60 minutes" not in output

    key_id, _ = await create_key(engine, "meters", ["events:write"])
    before = datetime.now(UTC)
    code, output = await gridjourney_in_process(
        database_url, "keys", "rotate", key_id, "--grace-minutes", "30"
    )
    assert code == 0, output
    said = output.split("stops in 30 minutes, at ", 1)[1][:19]
    ends = datetime.strptime(said, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before + timedelta(minutes=29) < ends < datetime.now(UTC) + timedelta(minutes=31)
    [info] = [info for info in await list_keys(engine) if info.key_id == key_id]
    assert info.expires_at is not None and abs(info.expires_at - ends) < timedelta(seconds=1)
