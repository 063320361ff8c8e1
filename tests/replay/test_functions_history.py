"""The recorded past_due_follow_up history (tests/replay/journeys/): `wait: {after:}` and the date and
history functions, as JourneyWorkflow ran them. (tests/replay/test_replay.py replays it.)"""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio.client import WorkflowHistory

from gridjourney.workflows.contracts import LOAD_CONTEXT, SEND_MESSAGE, HistoryQuery, LoadContextInput
from tests.replay.record_histories import HISTORIES_DIR, REPLAY_CONVERTER

PATH = HISTORIES_DIR / "past_due_follow_up.json"


def history() -> WorkflowHistory:
    document = json.loads(PATH.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


async def test_the_wait_ends_ten_days_after_the_due_date_and_the_loads_ask_for_the_history() -> None:
    events = history().events
    [timer] = [
        e.timer_started_event_attributes for e in events if e.HasField("timer_started_event_attributes")
    ]
    # due four days before the trigger: six days to wait
    assert abs(timer.start_to_fire_timeout.ToTimedelta() - timedelta(days=6)) < timedelta(seconds=1)
    loads: list[LoadContextInput] = []
    activities = []
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            activities.append(scheduled.activity_type.name)
            if scheduled.activity_type.name == LOAD_CONTEXT:
                [request] = await REPLAY_CONVERTER.decode(scheduled.input.payloads, [LoadContextInput])
                loads.append(request)
    assert len(loads) == 2  # at entry, and after the wait, for the branch
    wanted = HistoryQuery(
        event_type="message.sent", within=timedelta(days=30), where="event.journey_id == 'past_due_follow_up'"
    )
    assert all(load.history == [wanted] and load.journeys == ["budget_billing_ab"] for load in loads)
    assert loads[1].as_of is not None and loads[0].as_of is not None
    assert loads[1].as_of - loads[0].as_of >= timedelta(days=6) - timedelta(seconds=1)
    assert activities.count(SEND_MESSAGE) == 1  # no reminder in the history: the reminder went
