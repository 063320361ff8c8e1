"""A database the command cannot reach is one line and exit 1, for every command that needs it; an
error of a statement on a reachable database is no such failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cli.database_errors import unreachable_database
from gridjourney.privacy.keyring import generate_key

COMMAND = "from gridjourney.cli import main; main()"


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("command", [("db", "status"), ("keys", "list"), ("router",)])
def test_a_stopped_database_is_one_line_without_a_traceback(command: tuple[str, ...]) -> None:
    env = {
        **os.environ,
        "GRIDJOURNEY_DATABASE_URL": f"postgresql://gridjourney:secret@127.0.0.1:{_closed_port()}/x",
        "GRIDJOURNEY_ENCRYPTION_KEYS": f'{{"k": "{generate_key()}"}}',
    }
    result = subprocess.run(
        [sys.executable, "-c", COMMAND, *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gridjourney: cannot reach the database (GRIDJOURNEY_DATABASE_URL): ")
    assert "Connection refused" in line
    assert "secret" not in line


async def test_a_failed_statement_is_not_an_unreachable_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as refused:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert unreachable_database(refused.value) is None


def test_a_refused_connection_is_found_inside_a_group_and_its_cause() -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://u@127.0.0.1:{_closed_port()}/x", connect_timeout=5)
    wrapped = RuntimeError("starting the worker")
    wrapped.__cause__ = refused.value
    reason = unreachable_database(ExceptionGroup("task group", [ValueError("other"), wrapped]))
    assert reason is not None
    assert "Connection refused" in reason
