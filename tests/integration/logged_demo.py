"""`gridjourney run --exit-after-demo` as an operator starts it, in a subprocess with its own home folder
and free ports, logging at DEBUG so that every library's records are in its stderr.

The run takes about a minute and mostly waits (the outage notice's hold, the VEN's polls, journeys
settling), so tests/integration/conftest.py starts it in the background as the session begins and the
rest of the suite runs meanwhile; the test that reads its log waits for it to finish."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
CUSTOMERS = 20
TIMEOUT_S = 600.0
"""From the start of the run to its exit: a bound for a hung run, well above the minute or two it takes
alongside the rest of the suite."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class DemoOutput:
    returncode: int
    stdout: str
    stderr: str
    home: Path


@dataclass
class LoggedDemo:
    """One run of the demo; its output goes to files, so a long DEBUG log never fills a pipe nobody
    reads yet."""

    folder: Path
    process: subprocess.Popen[bytes]
    started: float

    @property
    def home(self) -> Path:
        return self.folder / "home"

    def output(self) -> DemoOutput:
        """Wait for the run to exit (within TIMEOUT_S of its start) and give what it wrote."""
        left = TIMEOUT_S - (time.monotonic() - self.started)
        try:
            returncode = self.process.wait(timeout=max(left, 0.0))
        except subprocess.TimeoutExpired:
            written = self._read("stdout")[-3000:]
            self.stop()
            raise AssertionError(f"the demo did not exit within {TIMEOUT_S:.0f} s:\n{written}") from None
        return DemoOutput(returncode, self._read("stdout"), self._read("stderr"), self.home)

    def stop(self) -> None:
        """Stop the run if it is still going (SIGTERM lets it stop its embedded Postgres and Temporal),
        then remove its folder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # whatever of its group outlived it
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _read(self, stream: str) -> str:
        return (self.folder / f"{stream}.txt").read_text(errors="replace")


def start_logged_demo() -> LoggedDemo:
    folder = Path(tempfile.mkdtemp(prefix="gridjourney-logged-demo-"))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GRIDJOURNEY_")} | {
        # no keys configured: the embedded stack generates its own, as for a new user
        "GRIDJOURNEY_HOME": str(folder / "home"),
        "GRIDJOURNEY_LOG_LEVEL": "DEBUG",
        "GRIDJOURNEY_API_PORT": str(free_port()),
        "GRIDJOURNEY_TEMPORAL_PORT": str(free_port()),
        "GRIDJOURNEY_TEMPORAL_UI_PORT": str(free_port()),
        "GRIDJOURNEY_SMS_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_PUSH_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_EMAIL_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_LOCAL_VTN_PORT": str(free_port()),
    }
    with (folder / "stdout.txt").open("wb") as stdout, (folder / "stderr.txt").open("wb") as stderr:
        # Its own session: stop() reaches the servers it starts too.
        process = subprocess.Popen(
            [str(GRIDJOURNEY), "run", "--exit-after-demo", "--customers", str(CUSTOMERS)],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return LoggedDemo(folder, process, time.monotonic())
