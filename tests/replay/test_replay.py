"""Determinism: every saved history replays against today's JourneyWorkflow.

A failure here means a change of the interpreter would break running journeys: guard the change
with `workflow.patched(...)` instead of re-recording. Histories are made by
`python -m tests.replay.record_histories` (see there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.temporal import DATA_CONVERTER
from gridjourney.workflows.journey import JourneyWorkflow
from tests.replay.record_histories import HISTORIES_DIR, JOURNEYS_DIR, SCENARIOS

HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))


def test_every_shipped_journey_has_a_history() -> None:
    shipped = {path.stem for path in JOURNEYS_DIR.glob("*.yaml")}
    assert shipped <= set(SCENARIOS), f"add a scenario to record_histories.py for {shipped - set(SCENARIOS)}"
    assert shipped <= {path.stem for path in HISTORIES}


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load(path)
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    # the recordings ran to the end: a history cut short would prove little
    last_event = history.events[-1]
    assert last_event.HasField("workflow_execution_completed_event_attributes")
