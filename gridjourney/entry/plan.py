"""The workflow id and Temporal id policies of an entry. Pure: no I/O.

| reentry          | workflow id                                 | reuse policy     |
|------------------|---------------------------------------------|------------------|
| once             | journey:{id}:{customer}                     | REJECT_DUPLICATE |
| after_exit       | journey:{id}:{customer}                     | ALLOW_DUPLICATE  |
| once_per_window  | journey:{id}:{customer}:w{trigger event id} | REJECT_DUPLICATE |
| every_trigger    | journey:{id}:{customer}:e{trigger event id} | REJECT_DUPLICATE |

The conflict policy is always FAIL: a running instance is never started twice. Every id is a function
of the journey, the customer and the trigger, so a redelivered trigger names the same instance and
Temporal refuses it. The window of `once_per_window` slides from the last entry; Temporal cannot
express that, so gridjourney/entry/enter.py checks it against the entry record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from gridjourney.dsl.schema import CompiledJourney, EntrySpec
from gridjourney.workflows.contracts import EventRef


@dataclass(frozen=True)
class EntryPlan:
    workflow_id: str
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy


def instance_base_id(journey_id: str, customer_id: str) -> str:
    return f"journey:{journey_id}:{customer_id}"


def entry_plan(journey: CompiledJourney, customer_id: str, trigger: EventRef) -> EntryPlan:
    """The workflow id and id policies that implement the journey's re-entry rule."""
    base = instance_base_id(journey.journey_id, customer_id)
    reentry = journey.definition.entry.reentry
    reject, fail = WorkflowIDReusePolicy.REJECT_DUPLICATE, WorkflowIDConflictPolicy.FAIL
    if reentry == "once":
        return EntryPlan(base, reject, fail)
    if reentry == "after_exit":
        return EntryPlan(base, WorkflowIDReusePolicy.ALLOW_DUPLICATE, fail)
    if reentry == "once_per_window":
        return EntryPlan(f"{base}:w{trigger.event_id}", reject, fail)
    return EntryPlan(f"{base}:e{trigger.event_id}", reject, fail)  # every_trigger


def window_start(entry: EntrySpec, trigger: EventRef) -> datetime:
    """once_per_window: an entry with a trigger after this moment keeps the customer out."""
    if entry.window is None:  # the schema requires a window with once_per_window
        raise ValueError("once_per_window needs an entry window")
    return trigger.occurred_at - entry.window


def kept_out_by_record(entry: EntrySpec, *, recorded: bool, entered_in_window: bool) -> bool:
    """The re-entry rule against the entry record: whether this instance id was entered already
    (`recorded`), and for once_per_window whether an entry lies after `window_start`. after_exit is
    left to Temporal (a run still open under the id refuses the start). entry/enter.py reads the
    record from the database; gridjourney/backtest/ keeps its own."""
    if entry.reentry == "after_exit":
        return False
    if recorded:
        return True
    return entry.reentry == "once_per_window" and entered_in_window
