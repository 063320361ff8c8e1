"""Program enrolments (program.enrolled / program.unenrolled): the audience of a program's DR events,
and the reads of it.

A row is a current enrolment: program.unenrolled deletes it, and customer.erased deletes all of the
customer's rows. A repeated program.enrolled keeps the first enrolment's date. The runner folds each
event exactly once and in log order (projections/runner.py), which is what makes the deletion safe: an
enrolment is never folded again after the unenrolment that followed it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import customer_programs
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import ProgramEnrolled, ProgramUnenrolled
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    customer_id = event.customer_id
    if customer_id is None:
        log.warning("customer_programs: %s at %d names no customer; ignored", event.type, event.position)
        return
    if event.type == "customer.erased":
        await conn.execute(delete(customer_programs).where(customer_programs.c.customer_id == customer_id))
        return
    if event.type == "program.unenrolled":
        program = ProgramUnenrolled.model_validate(event.payload).program
        await conn.execute(
            delete(customer_programs).where(
                customer_programs.c.customer_id == customer_id,
                customer_programs.c.program == program,
                customer_programs.c.last_position < event.position,
            )
        )
        return
    enrolled = ProgramEnrolled.model_validate(event.payload)
    statement = insert(customer_programs).values(
        customer_id=customer_id,
        program=enrolled.program,
        enrolled_at=event.occurred_at,
        last_position=event.position,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[customer_programs.c.customer_id, customer_programs.c.program],
            set_={"last_position": statement.excluded.last_position},
            where=customer_programs.c.last_position < statement.excluded.last_position,
        )
    )


# --- reads -------------------------------------------------------------------------------------------
async def program_members(conn: AsyncConnection, program: str) -> list[str]:
    """The ids of the customers enrolled in `program` now, in id order."""
    query = (
        select(customer_programs.c.customer_id)
        .where(customer_programs.c.program == program)
        .order_by(customer_programs.c.customer_id)
    )
    return list((await conn.execute(query)).scalars())


async def programs_of(conn: AsyncConnection, customer_ids: Sequence[str]) -> dict[str, set[str]]:
    """customer id → the programs they are enrolled in (customers in none are absent)."""
    query = select(customer_programs.c.customer_id, customer_programs.c.program).where(
        customer_programs.c.customer_id.in_(list(customer_ids))
    )
    found: dict[str, set[str]] = {}
    for customer_id, program in await conn.execute(query):
        found.setdefault(customer_id, set()).add(program)
    return found


PROJECTION = Projection(
    name="customer_programs",
    table=customer_programs,
    event_types=frozenset({"program.enrolled", "program.unenrolled", "customer.erased"}),
    apply=apply,
)
