"""The worker process (gridjourney/worker.py): its event loop (`run_worker_process`: uvloop, and a CPU
profile written when PROFILE_ENV names a file), and its workers' stop (`build_workers`)."""

from __future__ import annotations

import asyncio
import os
import pstats
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import uvloop
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.config import Settings
from gridjourney.worker import PROFILE_ENV, build_workers, run_worker_process


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


SEND_STARTED = asyncio.Event()


@activity.defn(name="slow_send")
async def slow_send() -> str:
    SEND_STARTED.set()
    await asyncio.sleep(1.5)
    return "finished"


@workflow.defn(sandboxed=False)
class CallsSlowSend:
    @workflow.run
    async def run(self, send_queue: str) -> str:
        return str(
            await workflow.execute_activity(
                "slow_send",
                task_queue=send_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        )


@pytest.mark.parametrize(("grace", "finished"), [(timedelta(seconds=10), True), (timedelta(0), False)])
async def test_a_stopping_worker_lets_a_running_send_finish_within_its_grace(
    temporal_dev_env: WorkflowEnvironment, grace: timedelta, finished: bool
) -> None:
    client = temporal_dev_env.client
    name = uuid.uuid4().hex[:8]
    settings = Settings(task_queue=f"journeys-{name}", send_task_queue=f"send-{name}")
    _, sends = build_workers(
        client, settings, journey_activities=[], send_activities=[slow_send], shutdown_grace=grace
    )
    SEND_STARTED.clear()
    async with Worker(client, task_queue=f"caller-{name}", workflows=[CallsSlowSend]):
        handle = await client.start_workflow(
            CallsSlowSend.run, settings.send_task_queue, id=f"caller-{name}", task_queue=f"caller-{name}"
        )
        serving = asyncio.create_task(sends.run())
        await asyncio.wait_for(SEND_STARTED.wait(), 30)
        await sends.shutdown()  # as SIGTERM does
        await serving
        if finished:
            assert await handle.result() == "finished"
        else:
            with pytest.raises(WorkflowFailureError):
                await handle.result()
