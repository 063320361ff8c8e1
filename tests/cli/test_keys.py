"""`gridjourney keys list` as an operator sees it: the installed command in an 80-column terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import SCOPES, create_key, revoke_key

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


async def test_list_shows_whole_key_ids_at_80_columns(engine: AsyncEngine, database_url: str) -> None:
    every_scope = list(SCOPES)
    created = [
        await create_key(engine, "billing-integration-production-east-region", every_scope),
        await create_key(engine, "operator", ["admin"]),
        await create_key(engine, "meter-feed", ["events:write"], rate_per_second=2.5),
    ]
    await revoke_key(engine, created[1][0])
    env = {**os.environ, "COLUMNS": "80", "GRIDJOURNEY_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        str(GRIDJOURNEY), "keys", "list", env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    listed = stdout.decode()
    lines = listed.splitlines()
    assert max(len(line) for line in lines) <= 80
    for key_id, _ in created:
        assert any(key_id in line.split() for line in lines), listed
    assert all(any(scope in line.split() for line in lines) for scope in every_scope), listed
    assert "…" not in listed
    header = next(line for line in lines if "key id" in line)
    assert "rate/s" in header.split(), listed
    [rated] = [line for line in lines if created[2][0] in line.split()]
    assert rated.split()[-1] == "2.5", listed
    [operator] = [line for line in lines if created[1][0] in line.split()]
    assert operator.split()[-1] == "default" and "revoked" in operator.split(), listed
    assert "default: GRIDJOURNEY_API_KEY_RATE_PER_SECOND=1000" in lines, listed
