"""`gridjourney db upgrade|status`, and `api` / `worker` refusing a schema that is not current.

`api` and `worker` run as real processes (the installed command), so the test sees exactly what an
operator sees: one line on stderr and exit status 2, and the database left as it was.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from gridjourney.cli import app
from gridjourney.config import get_settings
from gridjourney.db.migrate import current_revision, head_revision, upgrade
from gridjourney.devstack import embedded_database_url, postgres_database_url, start_postgres

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
_names = (f"cli_db_{n}_{uuid.uuid4().hex[:6]}" for n in itertools.count())


@pytest.fixture
def empty_database(postgres_url: str) -> str:
    name = next(_names)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_database_url(postgres_url, name)


@pytest.fixture
def configured(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """GRIDJOURNEY_DATABASE_URL points at the empty database (for the in-process CLI too)."""
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", empty_database)
    get_settings.cache_clear()
    yield empty_database
    get_settings.cache_clear()


def _run(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GRIDJOURNEY_DATABASE_URL": database_url,
        "GRIDJOURNEY_TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    # A generous bound: the command starts in seconds, but a loaded machine (the suite on 2 cores) took
    # over 60 s, and the bound is only there so that a hang fails instead of stalling the run.
    return subprocess.run([str(GRIDJOURNEY), command], env=env, capture_output=True, text=True, timeout=180)


def test_upgrade_migrates_the_configured_database_once(configured: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert first.stdout == f"database schema migrated from empty to {head_revision()}\n"
    assert current_revision(configured) == head_revision()
    again = runner.invoke(app, ["db", "upgrade"])
    assert (
        again.exit_code == 0
        and again.stdout == f"database schema already at {head_revision()}; nothing to do\n"
    )
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and status.stdout.split() == [
        "database:",
        head_revision(),
        "this",
        "release:",
        head_revision(),
    ]


def test_status_exits_2_on_a_schema_behind(configured: str) -> None:
    upgrade(configured, "0001")
    status = CliRunner().invoke(app, ["db", "status"])
    assert status.exit_code == 2
    assert f"the database schema is at revision 0001, behind {head_revision()}" in status.stderr


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_refuse_an_unmigrated_database_and_leave_it_alone(
    command: str, empty_database: str
) -> None:
    result = _run(command, empty_database)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: the database schema is not migrated, behind {head_revision()}: "
        "run `gridjourney db upgrade` first"
    ]
    assert current_revision(empty_database) is None  # a configured database is never migrated implicitly


def test_api_refuses_a_schema_behind(empty_database: str) -> None:
    upgrade(empty_database, "0001")
    result = _run("api", empty_database)
    assert result.returncode == 2
    assert "at revision 0001, behind" in result.stderr and "gridjourney db upgrade" in result.stderr
    assert current_revision(empty_database) == "0001"


def test_worker_refuses_a_schema_from_a_newer_release(empty_database: str) -> None:
    upgrade(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = _run("worker", empty_database)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: the database schema is at revision 9999, which this release does not know (its newest is "
        f"{head_revision()}); run the release that migrated it"
    ]


def test_upgrade_without_a_configured_database_migrates_the_embedded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDJOURNEY_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDJOURNEY_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert current_revision(embedded_database_url(tmp_path)) == head_revision()
    finally:
        get_settings.cache_clear()
        start_postgres(tmp_path / "postgres").cleanup()
