"""Shared fixtures: a real PostgreSQL (pip-installed server) and real Temporal servers.

One Postgres server and one Temporal dev server serve the whole session; every test gets a fresh
database cloned from a migrated template, so tests never see each other's rows, and dropped after it.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import itertools
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.devstack import postgres_database_url, start_postgres
from gridjourney.policy.loader import load_policy
from gridjourney.policy.model import Policy
from gridjourney.privacy.keyring import generate_key
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, data_converter, temporal_cli_path, test_server_path

# One encryption key for the session, as one deployment's processes share theirs: every Settings(),
# every EventStore and the stack's subprocesses read it from the environment. Fresh each session, so
# no test can depend on its value.
os.environ.setdefault("GRIDJOURNEY_ENCRYPTION_KEYS", json.dumps({"test-session": generate_key()}))
DATA_CONVERTER = data_converter(Settings())

TEMPLATE_DB = "gridjourney_template"
_database_names = (f"test_{n}_{uuid.uuid4().hex[:6]}" for n in itertools.count())


# The session's server keeps its files in memory (tmpfs) when the machine has room there: on a disk,
# creating each test's database and removing the folder at the end took seconds more per hundred
# tests, and far more while other work used the disk. Each test's database is dropped after it, so
# the folder holds the template and a few databases at a time.
TMPFS = Path("/dev/shm")
TMPFS_ROOM = 2 * 1024**3


def _data_parent() -> Path | None:
    if TMPFS.is_dir() and shutil.disk_usage(TMPFS).free >= TMPFS_ROOM:
        return TMPFS
    return None  # the system's temporary folder


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the session's Postgres server (its `postgres` database)."""
    with tempfile.TemporaryDirectory(prefix="gridjourney-pg-", dir=_data_parent()) as data_dir:
        server = start_postgres(Path(data_dir))
        try:
            _without_flushes(server.get_uri())
            yield server.get_uri()
        finally:
            server.cleanup()


def _without_flushes(url: str) -> None:
    """The session's server lives in a temporary folder that nothing reads after the session: it need
    not flush to disk to survive an operating-system crash. Without the flushes every test's CREATE
    DATABASE and commit is quicker; what a test sees is the same (a killed client or backend loses no
    committed row either way)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def template_database(postgres_url: str) -> str:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    upgrade(postgres_database_url(postgres_url, TEMPLATE_DB))
    return TEMPLATE_DB


@pytest.fixture
def database_url(postgres_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped after it. FILE_COPY copies the template's
    files (with a checkpoint, cheap without flushes) instead of writing every page to the WAL."""
    name = next(_database_names)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_database} STRATEGY FILE_COPY")
    yield postgres_database_url(postgres_url, name)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # FORCE: a process the test started may still hold a connection; the database is scratch
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def temporal_dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (the pip-installed CLI), with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_existing_path=str(temporal_cli_path()),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The native time-skipping test server: multi-day waits pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=str(test_server_path())
    )
    try:
        yield env
    finally:
        await env.shutdown()


SHIPPED_POLICY = Path(__file__).resolve().parent.parent / "policy.yaml"


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The shipped compliance policy (policy.yaml at the top of the repository)."""
    return load_policy(SHIPPED_POLICY)


TIMEOUT_FAILURE = "Timeout (>"
"""How pytest-timeout's failure message begins (its PYTEST_FAILURE_MESSAGE)."""
UNWIND_S = 10.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that runs past its timeout (`timeout` in pyproject.toml) fails where SIGALRM found the
    main thread; for a coroutine test that is the event loop's select(), which says nothing of what it
    awaited. The report then also shows where each of the loop's pending tasks waits, the test's own
    first; then the test's task is cancelled, so that it unwinds (its `finally` blocks run) before the
    next test uses the session's loop."""
    report = yield
    if call.excinfo is not None and str(call.excinfo.value).startswith(TIMEOUT_FAILURE):
        function = getattr(item, "function", None)
        if callable(function):
            stacks = _unwind_hung_test(getattr(inspect.unwrap(function), "__code__", None))
            if stacks:
                report.sections.append(("asyncio tasks pending at the timeout", stacks))
    return report


def _unwind_hung_test(test_code: object) -> str:
    """Where the loop's pending tasks wait (none if the test's own task is not among them: a test that
    is not a coroutine); cancels the test's task."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return ""  # no loop in this thread: a plain (not coroutine) test, nothing to unwind
    pending = asyncio.all_tasks(loop)
    hung = [task for task in pending if getattr(task.get_coro(), "cr_code", None) is test_code]
    if not hung:
        return ""
    written = io.StringIO()
    for task in [*hung, *(task for task in pending if task not in hung)]:
        task.print_stack(file=written)
    for task in hung:
        task.cancel()
    loop.run_until_complete(asyncio.wait(hung, timeout=UNWIND_S))
    return written.getvalue()
