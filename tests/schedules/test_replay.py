"""Determinism of ScheduleFireWorkflow: its saved histories (tests/schedules/record_fire_history.py)
replay against today's code, and each started the fire's cohort run under the fire's id: as a child
(a fire that does not check retirement), or through START_FIRE_RUN (one that does). A failure means
a change would break fires in flight: guard it with `workflow.patched(...)`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.schedules.workflow import (
    START_FIRE_RUN,
    ScheduleFireWorkflow,
    StartFireRunInput,
    fire_run_id,
)
from tests.replay.record_histories import REPLAY_CONVERTER
from tests.schedules.record_fire_history import FIRE_TIME, HISTORIES_DIR, RECORDED


def test_every_recording_is_saved() -> None:
    assert {path.stem for path in HISTORIES_DIR.glob("*.json")} == set(RECORDED)


async def test_the_fire_histories_replay_and_started_their_run() -> None:
    for recording, (journey_id, check_retirement) in RECORDED.items():
        document = json.loads((HISTORIES_DIR / f"{recording}.json").read_text(encoding="utf-8"))
        history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
        replayer = Replayer(workflows=[ScheduleFireWorkflow], data_converter=REPLAY_CONVERTER)
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None, recording
        run_id = fire_run_id(journey_id, FIRE_TIME)
        assert started_runs(history.events) == ([] if check_retirement else [run_id])
        assert await started_through_activity(history.events) == ([run_id] if check_retirement else [])
        assert history.events[-1].HasField("workflow_execution_completed_event_attributes")


def started_runs(events: Sequence[HistoryEvent]) -> list[str]:
    """The ids of the child workflows the fire started (all cohort runs)."""
    started = [
        event.start_child_workflow_execution_initiated_event_attributes
        for event in events
        if event.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert all(child.workflow_type.name == "CohortWorkflow" for child in started)
    return [child.workflow_id for child in started]


async def started_through_activity(events: Sequence[HistoryEvent]) -> list[str]:
    """The run ids the fire asked START_FIRE_RUN to start."""
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert all(task.activity_type.name == START_FIRE_RUN for task in scheduled)
    inputs = [await REPLAY_CONVERTER.decode(task.input.payloads, [StartFireRunInput]) for task in scheduled]
    return [decoded[0].run_id for decoded in inputs]
