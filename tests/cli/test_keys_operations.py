"""`gridjourney keys rotate` and what `keys list` shows operators: the last use and the expiry."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import authenticate, create_key
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
    assert "last used" in header and "expires" in header
    [old_line] = [line for line in out.splitlines() if key_id in line]
    # created, last used and (the grace period's) expiry: three timestamps on the old key's line
    assert old_line.count(":") >= 3, out

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
