"""The worker process's event loop (gridjourney/worker.py `run_worker_process`): uvloop, and a CPU
profile written when PROFILE_ENV names a file."""

from __future__ import annotations

import asyncio
import os
import pstats
import subprocess
import sys
from pathlib import Path

import uvloop

from gridjourney.worker import PROFILE_ENV, run_worker_process


def test_a_worker_process_runs_on_uvloop() -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0)

    run_worker_process(main())
    assert len(seen) == 1 and isinstance(seen[0], uvloop.Loop)


def test_a_profiled_worker_process_writes_its_stats_when_it_ends(tmp_path: Path) -> None:
    # Its own process: the environment variable is read by the process being profiled.
    profile = tmp_path / "send-1.prof"
    script = (
        "import asyncio\n"
        "from gridjourney.worker import run_worker_process\n"
        "def busy_for_a_while():\n"
        "    return sum(i * i for i in range(200_000))\n"
        "async def main():\n"
        "    busy_for_a_while()\n"
        "    await asyncio.sleep(0)\n"
        "run_worker_process(main())\n"
    )
    env = {**os.environ, PROFILE_ENV: str(profile)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    stats = pstats.Stats(str(profile))
    profiled = {name for (_, _, name) in stats.stats}  # type: ignore[attr-defined]
    assert "busy_for_a_while" in profiled
