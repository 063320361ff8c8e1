"""bench journeys' history shape, read from saved histories (tests/replay/histories/)."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory

from bench.journeys import history_shape

HISTORIES = Path(__file__).resolve().parents[1] / "replay" / "histories"


def load(name: str) -> WorkflowHistory:
    document = json.loads((HISTORIES / name).read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def test_the_shape_counts_activities_workflow_tasks_and_events() -> None:
    # rate_coach: two sends, the record before the goal's wait and the exit's
    before = history_shape(load("events-in-step/rate_coach.json"))
    after = history_shape(load("steps-carry/rate_coach.json"))
    assert before == {"activities": 5, "workflow_tasks": 7, "history_events": 44}
    # one task at the start, one after each activity, one when the goal's window closes; one patch
    # marker and its search-attribute upsert where there were three of each
    assert after == {"activities": 4, "workflow_tasks": 6, "history_events": 36}
