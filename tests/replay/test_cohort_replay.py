"""Determinism of CohortWorkflow: its saved histories (tests/replay/record_cohort_histories.py) replay
against today's code. A failure means a change would break running cohort runs: guard it with
`workflow.patched(...)` instead of re-recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import SEND_COHORT_BATCH
from tests.replay.record_cohort_histories import COHORT_DIR, RECORDINGS
from tests.replay.record_histories import REPLAY_CONVERTER

HISTORIES = sorted(COHORT_DIR.glob("*.json"))


def _load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def test_every_recording_is_saved() -> None:
    assert {path.stem for path in HISTORIES} == set(RECORDINGS)


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_cohort_history_replays(path: Path) -> None:
    history = _load(path)
    result = await Replayer(workflows=[CohortWorkflow], data_converter=REPLAY_CONVERTER).replay_workflow(
        history
    )
    assert result.replay_failure is None
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")
    # the run went through batches and signals: a history without them would prove little
    sends = [
        event
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == SEND_COHORT_BATCH
    ]
    assert len(sends) >= 4
    assert any(event.HasField("workflow_execution_signaled_event_attributes") for event in history.events)
