"""gridjourney's own commands as child processes of a benchmark, as production runs them: the API,
`gridjourney worker` and `gridjourney router` (bench/latency.py), `gridjourney worker --queues send`
(bench/chaos.py SendWorker, bench/cohort_stack.py), and the wait until a worker process polls its task
queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import NamedTuple

import psutil  # type: ignore[import-untyped]
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.api_process import PROFILE_ENV as API_PROFILE_ENV
from bench.api_process import ApiProcess
from bench.chaos import GRIDJOURNEY, SendWorker
from gridjourney.config import Settings
from gridjourney.worker import PROFILE_ENV as WORKER_PROFILE_ENV

POLLING_TIMEOUT_S = 120.0


class GridjourneyProcess(SendWorker):
    """`gridjourney <arguments>` as a child process: SendWorker's start, stop and kill for any of the
    production commands."""

    def __init__(self, arguments: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path)
        self.arguments = list(arguments)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(GRIDJOURNEY), *self.arguments], env=self.env, stdout=log, stderr=log
            )
        self.starts += 1

    def cpu_seconds(self) -> float:
        """Its CPU seconds so far (0 once it has exited)."""
        if self.process is None:
            return 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            times = psutil.Process(self.process.pid).cpu_times()
            return float(times.user + times.system)
        return 0.0

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


async def polled_by(
    client: Client,
    task_queue: str,
    workers: Sequence[SendWorker],
    logs: Path,
    queue_type: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    timeout: float = POLLING_TIMEOUT_S,
) -> None:
    """Wait until every worker process polls `task_queue` (Temporal names a poller pid@host); a process
    that exits meanwhile fails the wait (its log is under `logs`)."""
    pids = {str(w.process.pid) for w in workers if w.process is not None}
    request = DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=queue_type
    )
    deadline = time.monotonic() + timeout
    while pids:
        described = await client.workflow_service.describe_task_queue(request)
        pids -= {poller.identity.split("@", 1)[0] for poller in described.pollers}
        if any(w.process is not None and w.process.poll() is not None for w in workers):
            raise RuntimeError(f"a worker process exited at start-up: see its log under {logs}")
        if pids and time.monotonic() > deadline:
            raise RuntimeError(f"worker processes {sorted(pids)} never polled {task_queue}")
        await asyncio.sleep(0.2)


class ProductionProcesses(NamedTuple):
    api: ApiProcess
    worker: GridjourneyProcess
    router: GridjourneyProcess


@contextlib.asynccontextmanager
async def production_processes(
    tmp: Path, client: Client, settings: Settings, profile: Path | None
) -> AsyncIterator[ProductionProcesses]:
    """The API (uvicorn), `gridjourney worker` and `gridjourney router`, each its own process with this
    process's environment (database, Temporal, keys, the stand-in's URL, templates, policy), yielded once
    the API answers and the worker polls its queue. `profile`: each profiles itself for its whole life
    and writes its stats beside it when stopped (x.prof: x-api.prof.<pid>, x-worker.prof, x-router.prof)."""
    env = dict(os.environ)

    def profiled_env(variable: str, part: str) -> dict[str, str]:
        if profile is None:
            return env
        return env | {variable: str(profile.with_name(f"{profile.stem}-{part}{profile.suffix}"))}

    api = ApiProcess(profiled_env(API_PROFILE_ENV, "api"), 1, tmp / "api.log")
    worker = GridjourneyProcess(["worker"], profiled_env(WORKER_PROFILE_ENV, "worker"), tmp / "worker.log")
    router = GridjourneyProcess(["router"], profiled_env(WORKER_PROFILE_ENV, "router"), tmp / "router.log")
    try:
        worker.start()
        router.start()
        await asyncio.to_thread(api.start)
        queue = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        await polled_by(client, settings.task_queue, [worker], tmp, queue)
        if router.exited():
            raise RuntimeError(f"the router exited at start-up: see {router.log_path}")
        yield ProductionProcesses(api, worker, router)
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in (api, worker, router)))
