"""Record ScheduleFireWorkflow's histories for the replay test (tests/schedules/test_replay.py).

    .venv/bin/python -m tests.schedules.record_fire_history

The shipped winter_prep journey fires on the time-skipping server for 1 November 2027, 10:00 in
Chicago, once per recording of RECORDED: `winter_prep` starts its cohort run as a child and ends (the
child waits for cohort activities no worker here runs: the parent's history is what replays);
`winter_prep_checked` (`check_retirement`, as the sync's schedules ask) starts it through
START_FIRE_RUN, here a stand-in that answers "started" (the real one needs the database; the
workflow's history is what replays). Saved as tests/schedules/histories/<recording>.json, sealed
under the replay key of tests/replay/record_histories.py. Only the recordings not saved yet are
made: never re-record after changing the workflow, the history is what proves a change replay-safe
(guard it with `workflow.patched`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.devstack import register_search_attributes
from gridjourney.schedules.workflow import (
    START_FIRE_RUN,
    ScheduleFireInput,
    ScheduleFireWorkflow,
    StartFireRunInput,
    StartOutcome,
)
from gridjourney.temporal import test_server_path
from gridjourney.workflows.cohort import CohortWorkflow
from tests.replay.record_histories import REPLAY_CONVERTER, shipped_journey

HISTORIES_DIR = Path(__file__).resolve().parent / "histories"
RECORDED = {"winter_prep": ("winter_prep", False), "winter_prep_checked": ("winter_prep", True)}
"""Recording → (the shipped journey that fires, whether the fire checks retirement)."""
FIRE_TIME = datetime(2027, 11, 1, 10, 0, tzinfo=ZoneInfo("America/Chicago"))
TASK_QUEUE = "schedule-fire-recording"


@activity.defn(name=START_FIRE_RUN)
async def started(request: StartFireRunInput) -> StartOutcome:
    return "started"


async def record(recording: str, env: WorkflowEnvironment) -> Path:
    journey_id, check_retirement = RECORDED[recording]
    journey = shipped_journey(journey_id)
    async with Worker(
        env.client,
        task_queue=TASK_QUEUE,
        workflows=[ScheduleFireWorkflow, CohortWorkflow],
        activities=[started],
    ):
        handle = await env.client.start_workflow(
            ScheduleFireWorkflow.run,
            ScheduleFireInput(
                journey=journey,
                send_task_queue="sends",
                scheduled_for=FIRE_TIME,
                check_retirement=check_retirement,
            ),
            id=f"schedule-fire:{journey_id}-2027-11-01T15:00:00Z",
            task_queue=TASK_QUEUE,
        )
        await handle.result()
        history = await handle.fetch_history()
    path = HISTORIES_DIR / f"{recording}.json"
    document = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    await asyncio.to_thread(path.write_text, json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


async def main() -> None:
    HISTORIES_DIR.mkdir(parents=True, exist_ok=True)
    missing = [name for name in RECORDED if not (HISTORIES_DIR / f"{name}.json").exists()]
    if not missing:
        print("every recording is saved")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=REPLAY_CONVERTER, test_server_existing_path=str(test_server_path())
    )
    async with env:
        await register_search_attributes(env.client)
        for recording in missing:
            print(f"{recording}: saved {await record(recording, env)}")


if __name__ == "__main__":
    asyncio.run(main())
