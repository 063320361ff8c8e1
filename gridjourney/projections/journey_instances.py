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
from typing import Any

from sqlalchemy import case
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


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.customer_id is None:
        log.warning("journey_instances: %s at %d names no customer; ignored", event.type, event.position)
        return
    row: dict[str, Any] = {
        "customer_id": event.customer_id,
        "status": "active",
        "entered_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "last_position": event.position,
    }
    changes: dict[str, Any]
    if event.type == "journey.entered":
        entered = JourneyEntered.model_validate(event.payload)
        row |= {"holdout": entered.holdout, "steps_completed": 0}
        reopened = table.status != "active"
        changes = {
            "status": "active",
            "holdout": entered.holdout,
            "current_step": case((reopened, None), else_=table.current_step),
            "steps_completed": case((reopened, 0), else_=table.steps_completed),
            "exit_reason": case((reopened, None), else_=table.exit_reason),
            "converted_at": case((reopened, None), else_=table.converted_at),
            "entered_at": case((reopened, event.occurred_at), else_=table.entered_at),
        }
        ids: JourneyEntered | JourneyStepCompleted | JourneyConverted | JourneyExited = entered
    elif event.type == "journey.step_completed":
        step = JourneyStepCompleted.model_validate(event.payload)
        row |= {"current_step": step.next_step, "steps_completed": 1}
        changes = {"current_step": step.next_step, "steps_completed": table.steps_completed + 1}
        ids = step
    elif event.type == "journey.converted":
        converted = JourneyConverted.model_validate(event.payload)
        row |= {"converted_at": event.occurred_at}
        changes = {"converted_at": event.occurred_at}
        ids = converted
    else:
        exited = JourneyExited.model_validate(event.payload)
        exit_reason = None if exited.reason == COMPLETED else exited.reason
        row |= {"status": _exit_status(exited.reason, converted=False), "exit_reason": exit_reason}
        status = case(
            (table.converted_at.is_not(None), _exit_status(exited.reason, converted=True)),
            else_=_exit_status(exited.reason, converted=False),
        )
        changes = {"status": status, "exit_reason": exit_reason}
        ids = exited
    row |= {"instance_id": ids.instance_id, "journey_id": ids.journey_id, "version": ids.version}
    statement = insert(journey_instances).values(row)
    changes |= {
        "version": ids.version,
        "updated_at": statement.excluded.updated_at,
        "last_position": statement.excluded.last_position,
    }
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.instance_id],
            set_=changes,
            where=table.last_position < statement.excluded.last_position,
        )
    )


PROJECTION = Projection(
    name="journey_instances",
    table=journey_instances,
    event_types=frozenset(
        {"journey.entered", "journey.step_completed", "journey.converted", "journey.exited"}
    ),
    apply=apply,
)
