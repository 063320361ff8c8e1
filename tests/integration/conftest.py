"""The logged demo (tests/integration/logged_demo.py) starts as soon as the session knows it will run
the test that reads it, so that its minute of mostly waiting overlaps the rest of the suite.

Under pytest-xdist every worker collects every test but runs only some, so a worker cannot know at
collection whether the log test will be its own: there the test starts the demo itself (the `logged_demo`
fixture), and the other worker's tests keep the cores busy meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.logged_demo import LoggedDemo, start_logged_demo

LOG_TEST = Path(__file__).resolve().parent / "test_logs.py"
_started = pytest.StashKey[LoggedDemo]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or "PYTEST_XDIST_WORKER" in os.environ:
        return
    if any(item.path == LOG_TEST for item in session.items):
        session.config.stash[_started] = start_logged_demo()


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Stops a run nobody waited for (its test deselected by -x or -k after collection, or interrupted).
    demo = session.config.stash.get(_started, None)
    if demo is not None:
        demo.stop()


@pytest.fixture(scope="session")
def logged_demo(request: pytest.FixtureRequest) -> Iterator[LoggedDemo]:
    """The session's logged demo: the one started at collection, or a new one."""
    demo = request.config.stash.get(_started, None)
    if demo is None:
        demo = request.config.stash[_started] = start_logged_demo()
    yield demo
    demo.stop()
