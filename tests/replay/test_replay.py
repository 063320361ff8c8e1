"""Determinism: every saved history replays against today's JourneyWorkflow.

A failure here means a change of the interpreter would break running journeys: guard the change
with `workflow.patched(...)` instead of re-recording. Histories are made by
`python -m tests.replay.record_histories` (see there). Two sets replay: the histories sealed by the
encryption codec, and those recorded before it (the codec must keep reading unmarked payloads).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.privacy.codec import ENCODING
from gridjourney.workflows.journey import JourneyWorkflow
from tests.replay.record_histories import (
    HISTORIES_DIR,
    JOURNEYS_DIR,
    PRE_CODEC_DIR,
    REPLAY_CONVERTER,
    SCENARIOS,
)

ENCRYPTED = sorted(HISTORIES_DIR.glob("*.json"))
PRE_CODEC = sorted(PRE_CODEC_DIR.glob("*.json"))
HISTORIES = ENCRYPTED + PRE_CODEC
# What the recordings' customer stand-ins are called (tests/replay/record_histories.py).
CUSTOMER_NAME = b"Ana Diaz"


def test_every_shipped_journey_has_a_history() -> None:
    shipped = {path.stem for path in JOURNEYS_DIR.glob("*.yaml")}
    assert shipped <= set(SCENARIOS), f"add a scenario to record_histories.py for {shipped - set(SCENARIOS)}"
    assert shipped <= {path.stem for path in ENCRYPTED}


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every payload in a history's JSON (the objects with an `encoding` in their metadata), except the
    search attributes: Temporal indexes those, so they stay readable and hold opaque ids only."""
    if isinstance(node, dict):
        if "encoding" in node.get("metadata", {}):
            yield node
        for key, value in node.items():
            if key != "searchAttributes":
                yield from payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from payloads(value)


def _document(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", HISTORIES, ids=[f"{path.parent.name}/{path.stem}" for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load(path)
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=REPLAY_CONVERTER)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    # the recordings ran to the end: a history cut short would prove little
    last_event = history.events[-1]
    assert last_event.HasField("workflow_execution_completed_event_attributes")


@pytest.mark.parametrize("path", ENCRYPTED, ids=[path.stem for path in ENCRYPTED])
def test_recorded_payloads_are_sealed(path: Path) -> None:
    found = list(payloads(_document(path)))
    assert found
    for payload in found:
        assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
        assert CUSTOMER_NAME not in base64.b64decode(payload.get("data", ""))


def test_pre_codec_histories_hold_the_data_in_the_clear() -> None:
    """The other side of the check above: unsealed, the customer's name is readable in the history."""
    onboarding = _document(PRE_CODEC_DIR / "onboarding.json")
    assert any(CUSTOMER_NAME in base64.b64decode(payload.get("data", "")) for payload in payloads(onboarding))
