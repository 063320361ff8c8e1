"""Temporal activities: everything a journey does that touches the world.

Construct once per worker (activities/journey_activities.py) and register the bound methods::

    senders = build_senders(settings, engine)          # gridjourney.channels.registry
    activities = JourneyActivities(engine, settings, senders)
    Worker(client, task_queue=settings.task_queue, activities=activities.journey_activities, ...)
    Worker(client, task_queue=settings.send_task_queue, activities=activities.send_activities, ...)

(or `activities.all` on one queue). Workflows call them by the names in workflows/contracts.py and
workflows/cohort_contracts.py (SEND_COHORT_BATCH, on the send task queue: `send_activities`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridjourney.activities.journey_activities import JourneyActivities as JourneyActivities
    from gridjourney.activities.journey_activities import decision_time as decision_time
    from gridjourney.activities.ledger import ClaimLost as ClaimLost
    from gridjourney.activities.send import SendHeld as SendHeld
    from gridjourney.activities.send import SendInProgress as SendInProgress
    from gridjourney.activities.send_batch import BatchIncomplete as BatchIncomplete

# Where each name the package answers lives. Imported on first use, not with the package: importing
# one activity module (the ledger, for `gridjourney sends`) ran this file, and importing them all
# cost every command seconds at start (pandas, OpenTelemetry, Temporal's client).
_LOCATIONS = {
    "BatchIncomplete": "gridjourney.activities.send_batch",
    "ClaimLost": "gridjourney.activities.ledger",
    "JourneyActivities": "gridjourney.activities.journey_activities",
    "SendHeld": "gridjourney.activities.send",
    "SendInProgress": "gridjourney.activities.send",
    "decision_time": "gridjourney.activities.journey_activities",
}

__all__ = [
    "BatchIncomplete",
    "ClaimLost",
    "JourneyActivities",
    "SendHeld",
    "SendInProgress",
    "decision_time",
]


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LOCATIONS[name]), name)
