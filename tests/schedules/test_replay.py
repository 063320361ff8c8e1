"""Determinism of ScheduleFireWorkflow: its saved history (tests/schedules/record_fire_history.py)
replays against today's code, and it started the fire's cohort run under the fire's id. A failure
means a change would break fires in flight: guard it with `workflow.patched(...)`."""

from __future__ import annotations

import json

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.schedules.workflow import ScheduleFireWorkflow, fire_run_id
from tests.replay.record_histories import REPLAY_CONVERTER
from tests.schedules.record_fire_history import FIRE_TIME, HISTORIES_DIR, RECORDED


def test_every_recording_is_saved() -> None:
    assert {path.stem for path in HISTORIES_DIR.glob("*.json")} == set(RECORDED)


async def test_the_fire_history_replays_and_started_its_run() -> None:
    for journey_id in RECORDED:
        document = json.loads((HISTORIES_DIR / f"{journey_id}.json").read_text(encoding="utf-8"))
        history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
        replayer = Replayer(workflows=[ScheduleFireWorkflow], data_converter=REPLAY_CONVERTER)
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None
        started = [
            event.start_child_workflow_execution_initiated_event_attributes
            for event in history.events
            if event.HasField("start_child_workflow_execution_initiated_event_attributes")
        ]
        assert [child.workflow_id for child in started] == [fire_run_id(journey_id, FIRE_TIME)]
        assert started[0].workflow_type.name == "CohortWorkflow"
        assert history.events[-1].HasField("workflow_execution_completed_event_attributes")
