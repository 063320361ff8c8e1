"""The SQL of resolving a run's audience (cohorts/audience.py): the customers its sources select, and
the whole audience straight into `cohort_members` when nothing is left to decide in Python."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Select,
    String,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import BIT, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import cohort_members, customer_programs, customers


@dataclass(frozen=True)
class Candidate:
    """A customer the audience's sources select, before `where`, target and holdout."""

    customer_id: str
    name: str | None
    locale: str
    time_zone: str
    attributes: dict[str, Any]
    premise_id: str | None
    transformer_id: str | None
    feeder_id: str | None


def _audience(
    columns: list[Any], program: str | None, grid: tuple[list[str], list[str], list[str]] | None
) -> Select[Any]:
    """Customers (not erased) enrolled in `program` (if given) and, with `grid` (premise, transformer
    and feeder ids), supplied through one of them."""
    c = customers.c
    query = select(*columns).where(c.erased_at.is_(None))
    if program is not None:
        enrolled = select(customer_programs.c.customer_id).where(customer_programs.c.program == program)
        query = query.where(c.customer_id.in_(enrolled))
    if grid is not None:
        premises, transformers, feeders = grid
        query = query.where(
            or_(c.premise_id.in_(premises), c.transformer_id.in_(transformers), c.feeder_id.in_(feeders))
        )
    return query


async def audience_candidates(
    conn: AsyncConnection,
    *,
    program: str | None,
    grid: tuple[list[str], list[str], list[str]] | None,
) -> list[Candidate]:
    """The audience's customers (see _audience), in customer id order, for filters in Python."""
    c = customers.c
    columns = [
        c.customer_id,
        c.name,
        c.locale,
        c.time_zone,
        c.attributes,
        c.premise_id,
        c.transformer_id,
        c.feeder_id,
    ]
    rows = await conn.execute(_audience(columns, program, grid).order_by(c.customer_id))
    return [
        Candidate(
            customer_id=row.customer_id,
            name=row.name,
            locale=row.locale,
            time_zone=row.time_zone,
            attributes=row.attributes or {},
            premise_id=row.premise_id,
            transformer_id=row.transformer_id,
            feeder_id=row.feeder_id,
        )
        for row in rows
    ]


def _in_holdout(run_id: str, fraction: float) -> ColumnElement[bool]:
    """workflows/assignment.py unit_interval("holdout", run id, customer id) < fraction, in SQL: the
    first 8 bytes of the same sha256, unsigned, against fraction x 2^64."""
    if fraction <= 0:
        return false()
    keyed = func.concat(f"holdout\x1f{run_id}\x1f", customers.c.customer_id)
    digest = func.encode(func.sha256(func.convert_to(keyed, "UTF8")), "hex")
    signed = cast(cast(func.concat("x", func.substr(digest, 1, 16)), BIT(64)), BigInteger)
    two_to_64 = literal(Decimal(2**64), Numeric)
    unsigned = cast(signed, Numeric) + case((signed < 0, two_to_64), else_=literal(Decimal(0), Numeric))
    return unsigned < literal(Decimal(fraction) * 2**64, Numeric)


async def insert_audience(
    conn: AsyncConnection,
    run_id: str,
    *,
    program: str | None,
    grid: tuple[list[str], list[str], list[str]] | None,
    holdout: float,
    step_id: str,
    track: str,
) -> tuple[int, int]:
    """The audience straight into cohort_members, in one INSERT ... SELECT (no filter or target to
    apply in Python): member_no by customer id, the holdout hashed as in_holdout. (members, holdout)."""
    c = customers.c
    columns = [
        literal(run_id, String).label("run_id"),
        c.customer_id,
        (func.row_number().over(order_by=c.customer_id) - 1).label("member_no"),
        c.premise_id,
        c.transformer_id,
        c.feeder_id,
        c.attributes["segment"].astext.label("segment"),
        _in_holdout(run_id, holdout).label("holdout"),
        literal(step_id, String).label("step_id"),
        literal(track, String).label("track"),
    ]
    target = [
        "run_id",
        "customer_id",
        "member_no",
        "premise_id",
        "transformer_id",
        "feeder_id",
        "segment",
        "holdout",
        "step_id",
        "track",
    ]
    await conn.execute(insert(cohort_members).from_select(target, _audience(columns, program, grid)))
    m = cohort_members.c
    row = (
        await conn.execute(select(func.count(), func.count().filter(m.holdout)).where(m.run_id == run_id))
    ).one()
    return row[0], row[1]


async def refresh_member_statistics(conn: AsyncConnection) -> None:
    """ANALYZE cohort_members, so that the planner knows a run's members as soon as they are in.

    Without it, the rows of a large new run are unknown to the planner until autovacuum analyzes the
    table (up to a minute and more later): it then estimates that a member move's keys
    (`customer_id = ANY(...)`, member_queries.move_members) match the whole run, and scans the
    track index instead, reading every member still waiting in the track for each batch of 500
    (measured: 5.7 million index reads in one minute of a 100,000-member run)."""
    await conn.execute(text("ANALYZE cohort_members"))
