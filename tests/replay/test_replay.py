"""Determinism: every saved history replays against today's JourneyWorkflow.

A failure here means a change of the interpreter would break running journeys: guard the change
with `workflow.patched(...)` instead of re-recording. Histories are made by
`python -m tests.replay.record_histories` (see there). Five sets replay: those recorded before the
codec (it must keep reading unmarked payloads), those sealed by it before quiet hours (the interpreter
takes its pre-`quiet-hours-1` path for them), those with one activity per journey event (before
`journey-events-in-step-1`), those with the entry's own LOAD_CONTEXT and the end's own
RECORD_JOURNEY_EVENTS (before `journey-context-and-exit-in-steps-1`), and the current ones, which
include a send deferred by quiet hours, a send given up, and a journey using split `vars`, a
conditional `exit_on` and `waited_event`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from gridjourney.privacy.codec import ENCODING
from gridjourney.workflows.contracts import (
    LOAD_CONTEXT,
    RECORD_JOURNEY_EVENT,
    RECORD_JOURNEY_EVENTS,
    RECORD_SEND_GIVEN_UP,
    SEND_MESSAGE,
    UPDATE_CUSTOMER,
    JourneyState,
    SendMessageInput,
)
from gridjourney.workflows.journey import JourneyWorkflow
from gridjourney.workflows.journey_patches import EVENTS_IN_STEP_PATCH, QUIET_HOURS_PATCH, STEPS_CARRY_PATCH
from tests.replay.record_histories import (
    ENCRYPTED_DIR,
    EVENTS_IN_STEP_DIR,
    HISTORIES_DIR,
    JOURNEYS_DIR,
    PRE_CODEC_DIR,
    QUIET_HOURS_DIR,
    RECORDINGS,
    REPLAY_CONVERTER,
)
from tests.schedules.record_fire_history import RECORDED as SCHEDULE_FIRES

CURRENT = sorted(HISTORIES_DIR.glob("*.json"))
EVENTS_IN_STEP = sorted(EVENTS_IN_STEP_DIR.glob("*.json"))
QUIET_HOURS = sorted(QUIET_HOURS_DIR.glob("*.json"))
ENCRYPTED = sorted(ENCRYPTED_DIR.glob("*.json"))
PRE_CODEC = sorted(PRE_CODEC_DIR.glob("*.json"))
SEALED = CURRENT + EVENTS_IN_STEP + QUIET_HOURS + ENCRYPTED
HISTORIES = CURRENT + EVENTS_IN_STEP + QUIET_HOURS + ENCRYPTED + PRE_CODEC
# Cohort-mode journeys since f8ab0a5 and b232cd2: their per-customer recordings cannot be made again, and
# their last ones (histories/quiet-hours/) keep proving the per-customer interpreter replays them.
PER_CUSTOMER_RECORDED_BEFORE_COHORT_MODE = {"dr_event", "outage_notice"}
# What the recordings' customer stand-ins are called (tests/replay/record_histories.py).
CUSTOMER_NAME = b"Ana Diaz"


def test_every_shipped_journey_has_a_history() -> None:
    # a schedule-triggered journey's fire is recorded in tests/schedules/histories/
    shipped = {path.stem for path in JOURNEYS_DIR.glob("*.yaml")} - set(SCHEDULE_FIRES)
    missing = shipped - set(RECORDINGS)
    assert not missing, f"add a scenario to record_histories.py for {missing}"
    current = {path.stem for path in CURRENT}
    assert set(RECORDINGS) - PER_CUSTOMER_RECORDED_BEFORE_COHORT_MODE == current
    assert {path.stem for path in QUIET_HOURS} >= PER_CUSTOMER_RECORDED_BEFORE_COHORT_MODE


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every payload in a history's JSON (the objects with an `encoding` in their metadata), except the
    search attributes (Temporal indexes those, so they stay readable and hold opaque ids only) and the
    patch markers (written by the SDK's core itself, past the codec: they hold the patch id only)."""
    if isinstance(node, dict):
        if "encoding" in node.get("metadata", {}):
            yield node
        for key, value in node.items():
            if key not in ("searchAttributes", "markerRecordedEventAttributes"):
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


@pytest.mark.parametrize("path", SEALED, ids=[f"{path.parent.name}/{path.stem}" for path in SEALED])
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


def _patched(history: WorkflowHistory, patch: str = QUIET_HOURS_PATCH) -> bool:
    """Whether the run took the patch's path (its patch marker names the patch id)."""
    return any(
        patch.encode() in event.marker_recorded_event_attributes.SerializeToString()
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
    )


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


def test_the_older_sets_replay_the_path_from_before_quiet_hours() -> None:
    # Without the patch marker the replay takes the old path: these histories are what prove it unchanged.
    assert not any(_patched(load(path)) for path in ENCRYPTED + PRE_CODEC)
    assert all(_patched(load(path)) for path in EVENTS_IN_STEP + QUIET_HOURS)


def test_the_current_set_asks_one_patch_for_all() -> None:
    # Each patch asked costs the history a marker and a TemporalChangeVersion upsert: the current runs ask
    # only the newest, which stands for the older ones.
    for path in CURRENT:
        markers = [event for event in load(path).events if event.HasField("marker_recorded_event_attributes")]
        assert len(markers) == 1 and _patched(load(path), STEPS_CARRY_PATCH)
        assert not _patched(load(path)) and not _patched(load(path), EVENTS_IN_STEP_PATCH)
    assert all(_patched(load(path), EVENTS_IN_STEP_PATCH) for path in EVENTS_IN_STEP)


def test_the_current_set_records_journey_events_inside_the_steps_activities() -> None:
    # The older sets scheduled one activity per journey event; in the current one the events ride on the
    # activity the run calls next (load, send, update, score), the rest together in one
    # RECORD_JOURNEY_EVENTS before a wait and at the end.
    for path in QUIET_HOURS + ENCRYPTED + PRE_CODEC:
        history = load(path)
        assert not _patched(history, EVENTS_IN_STEP_PATCH)
        assert RECORD_JOURNEY_EVENT in _activities(history)
    for path in CURRENT + EVENTS_IN_STEP:
        assert RECORD_JOURNEY_EVENT not in _activities(load(path))
    before = _activities(load(QUIET_HOURS_DIR / "usage_spike.json"))
    after = _activities(load(EVENTS_IN_STEP_DIR / "usage_spike.json"))
    assert before.count(RECORD_JOURNEY_EVENT) == 4 and before.count(LOAD_CONTEXT) == 1
    # the last step's record before the run waits for its goal, then the exit's
    assert after == [LOAD_CONTEXT, SEND_MESSAGE, SEND_MESSAGE, RECORD_JOURNEY_EVENTS, RECORD_JOURNEY_EVENTS]


def test_the_current_set_loads_the_entry_context_and_records_the_end_in_the_sends() -> None:
    # Older sets load at entry and record the end on their own; in the current one a journey whose first
    # step is a send loads the customer in that send, and a last send with no goal left records the end.
    for path in EVENTS_IN_STEP + QUIET_HOURS + ENCRYPTED + PRE_CODEC:
        history = load(path)
        assert not _patched(history, STEPS_CARRY_PATCH)
        assert _activities(history)[0] == LOAD_CONTEXT
    carried = [path.stem for path in CURRENT if _activities(load(path))[0] == SEND_MESSAGE]
    assert sorted(carried) == ["high_bill_alert", "high_bill_alert_deferred", "onboarding", "rate_coach"]
    assert all(_patched(load(HISTORIES_DIR / f"{name}.json"), STEPS_CARRY_PATCH) for name in carried)
    # rate_coach: offer (sms), details (email); its goal is observed after the steps
    before = _activities(load(EVENTS_IN_STEP_DIR / "rate_coach.json"))
    after = _activities(load(HISTORIES_DIR / "rate_coach.json"))
    assert before == [LOAD_CONTEXT, SEND_MESSAGE, SEND_MESSAGE, RECORD_JOURNEY_EVENTS, RECORD_JOURNEY_EVENTS]
    assert after == [SEND_MESSAGE, SEND_MESSAGE, RECORD_JOURNEY_EVENTS, RECORD_JOURNEY_EVENTS]
    # high_bill_alert ends with its offer (a send, goal converted): the offer records the end
    assert _activities(load(EVENTS_IN_STEP_DIR / "high_bill_alert.json"))[-2:] == [
        SEND_MESSAGE,
        RECORD_JOURNEY_EVENTS,
    ]
    assert _activities(load(HISTORIES_DIR / "high_bill_alert.json"))[-1] == SEND_MESSAGE
    # onboarding ends with an update (its goal converted): the update records the end
    assert _activities(load(EVENTS_IN_STEP_DIR / "onboarding.json"))[-1] == RECORD_JOURNEY_EVENTS
    assert _activities(load(HISTORIES_DIR / "onboarding.json"))[-1] == UPDATE_CUSTOMER
    # usage_spike branches first: it reads the customer, so the entry loads it as before
    assert _activities(load(HISTORIES_DIR / "usage_spike.json"))[0] == LOAD_CONTEXT


def test_the_current_set_holds_a_deferral_and_a_give_up() -> None:
    deferred = load(HISTORIES_DIR / "high_bill_alert_deferred.json")
    activities = _activities(deferred)
    # the alert asked twice around a timer of the night's length
    first, second, _offer = (i for i, name in enumerate(activities) if name == SEND_MESSAGE)
    assert second == first + 1
    timers = [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for event in deferred.events
        if event.HasField("timer_started_event_attributes")
    ]
    assert timedelta(hours=9) < timers[0] <= timedelta(hours=10)
    given_up = _activities(load(HISTORIES_DIR / "usage_spike_given_up.json"))
    assert given_up.count(RECORD_SEND_GIVEN_UP) == given_up.count(SEND_MESSAGE) == 2


async def test_the_current_set_holds_split_vars_a_conditional_exit_and_a_waited_event() -> None:
    history = load(HISTORIES_DIR / "budget_billing_ab.json")
    sends: list[SendMessageInput] = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == SEND_MESSAGE:
                [request] = await REPLAY_CONVERTER.decode(scheduled.input.payloads, [SendMessageInput])
                sends.append(request)
    invite, confirm = sends
    assert invite.variables["vars"]["subject"] in ("Save on your bill", "Your bill, lower")
    assert "waited_event" not in invite.variables
    assert confirm.variables["waited_event"]["audit_id"] == "AU-17"
    # the past-due bill of 5 days did not end the run; the one of 40 days did, before the follow-up
    completed = history.events[-1].workflow_execution_completed_event_attributes
    [state] = await REPLAY_CONVERTER.decode(completed.result.payloads, [JourneyState])
    assert (state.status, state.exit_reason) == ("exited", "bill.past_due")
    assert [step.step_id for step in state.steps_taken] == [
        "pick_subject",
        "invite",
        "await_audit",
        "confirm",
    ]
