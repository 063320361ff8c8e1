"""The journey instances projection, mirroring JourneyWorkflow's own state (workflows/journey.py).

- journey.entered opens the instance; under `after_exit` re-entry the workflow id (the instance id)
  is reused, so entering a finished instance starts it afresh, while a repeated record of an entry
  into a running one changes nothing but the version and holdout flag.
- journey.step_completed sets `current_step` to the step the journey went on to (None once the
  steps are done) and counts it.
- journey.converted notes `converted_at`; the run goes on (status stays active).
- journey.exited finishes it: reason "completed" gives "converted" if it converted, else
  "completed"; any other reason (an exit event's type, "cancelled") gives "exited" with that reason.

An event for an instance without a row (its entry not recorded) still creates one, so nothing that
the log says happened is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import journey_instances
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import JourneyConverted, JourneyEntered, JourneyExited, JourneyStepCompleted
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)

COMPLETED = "completed"
table = journey_instances.c


def _exit_status(reason: str, converted: bool) -> str:
    if reason != COMPLETED:
        return "exited"
    return "converted" if converted else "completed"


JourneyPayload = JourneyEntered | JourneyStepCompleted | JourneyConverted | JourneyExited
_PAYLOADS: dict[str, type[JourneyPayload]] = {
    "journey.entered": JourneyEntered,
    "journey.step_completed": JourneyStepCompleted,
    "journey.converted": JourneyConverted,
    "journey.exited": JourneyExited,
}


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    await apply_many(conn, [event])


async def apply_many(conn: AsyncConnection, batch: Sequence[StoredEvent]) -> None:
    """Fold the batch's events in log order over the rows they name, read once, and write each
    changed row once: a journey's entry, steps and exit in one batch are one read and one upsert,
    where they were an upsert each (their SQL built anew per event)."""
    folds: list[tuple[StoredEvent, JourneyPayload]] = []
    for event in batch:
        if event.customer_id is None:
            log.warning("journey_instances: %s at %d names no customer; ignored", event.type, event.position)
            continue
        folds.append((event, _PAYLOADS[event.type].model_validate(event.payload)))
    if not folds:
        return
    wanted = sorted({payload.instance_id for _, payload in folds})
    found = await conn.execute(select(journey_instances).where(table.instance_id.in_(wanted)))
    rows: dict[str, dict[str, Any]] = {row.instance_id: dict(row._mapping) for row in found}
    changed: dict[str, dict[str, Any]] = {}
    for event, payload in folds:
        row = rows.get(payload.instance_id)
        if row is not None and row["last_position"] >= event.position:
            continue  # folded already: a replay changes nothing
        rows[payload.instance_id] = changed[payload.instance_id] = _folded(row, event, payload)
    if not changed:
        return
    statement = insert(journey_instances).values(list(changed.values()))
    written = {name: statement.excluded[name] for name in _COLUMNS if name != "instance_id"}
    await conn.execute(statement.on_conflict_do_update(index_elements=[table.instance_id], set_=written))


_COLUMNS = tuple(column.name for column in journey_instances.columns)


def _folded(row: dict[str, Any] | None, event: StoredEvent, payload: JourneyPayload) -> dict[str, Any]:
    """The row after one event. A row the log has not opened yet is opened by any of its events."""
    at = event.occurred_at
    if row is None:
        row = {
            "instance_id": payload.instance_id,
            "journey_id": payload.journey_id,
            "customer_id": event.customer_id,
            "status": "active",
            "current_step": None,
            "holdout": False,
            "steps_completed": 0,
            "exit_reason": None,
            "converted_at": None,
            "entered_at": at,
        }
    else:
        row = dict(row)
    row |= {"version": payload.version, "updated_at": at, "last_position": event.position}
    if isinstance(payload, JourneyEntered):
        if row["status"] != "active":  # an `after_exit` re-entry: the instance starts afresh
            row |= {"current_step": None, "steps_completed": 0, "exit_reason": None, "converted_at": None}
            row["entered_at"] = at
        row |= {"status": "active", "holdout": payload.holdout}
    elif isinstance(payload, JourneyStepCompleted):
        row |= {"current_step": payload.next_step, "steps_completed": row["steps_completed"] + 1}
    elif isinstance(payload, JourneyConverted):
        row["converted_at"] = at
    else:
        row["status"] = _exit_status(payload.reason, converted=row["converted_at"] is not None)
        row["exit_reason"] = None if payload.reason == COMPLETED else payload.reason
    return row


PROJECTION = Projection(
    name="journey_instances",
    table=journey_instances,
    event_types=frozenset(
        {"journey.entered", "journey.step_completed", "journey.converted", "journey.exited"}
    ),
    apply=apply,
    apply_many=apply_many,
)
