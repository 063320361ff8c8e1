"""Every SQL statement on `outages` is here."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, any_, func, not_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import customers, outages

# An incident detected longer ago than this no longer counts as an outage for the messages it refuses
# (activities/eligibility.py): a restoration that never arrived must not silence a customer for good.
# A constant rather than a setting for now: the settings are the lead's (gridjourney/config.py).
MAX_OUTAGE_AGE = timedelta(days=7)


class Incident(BaseModel):
    """A row of `outages`: one incident as detected, estimated and restored so far."""

    model_config = ConfigDict(from_attributes=True)

    incident_id: str
    canonical_incident_id: str
    premise_ids: list[str]
    transformer_ids: list[str]
    feeder_ids: list[str]
    cause: str | None
    detected_at: datetime
    etr: datetime | None
    restored_premise_ids: list[str]
    restored_at: datetime | None
    last_position: int

    @property
    def open(self) -> bool:
        return self.restored_at is None


async def customers_without_power(
    conn: AsyncConnection,
    customer_ids: Collection[str],
    now: datetime | None = None,
    max_age: timedelta = MAX_OUTAGE_AGE,
) -> set[str]:
    """Those of `customer_ids` whose premise, transformer or feeder is in an outage that is not over,
    unless their own premise has been restored already. Only incidents detected within `max_age`
    before `now` (default: the database's time) count."""
    if not customer_ids:
        return set()
    affected = or_(
        customers.c.premise_id == any_(outages.c.premise_ids),
        customers.c.transformer_id == any_(outages.c.transformer_ids),
        customers.c.feeder_id == any_(outages.c.feeder_ids),
    )
    restored_here = customers.c.premise_id == any_(outages.c.restored_premise_ids)
    recent = outages.c.detected_at > (func.now() if now is None else now) - max_age
    rows = await conn.execute(
        select(customers.c.customer_id)
        .distinct()
        .join(outages, and_(outages.c.restored_at.is_(None), recent, affected, not_(restored_here)))
        .where(any_of(customers.c.customer_id, customer_ids))
    )
    return {row.customer_id for row in rows}


async def canonical_incident_id(conn: AsyncConnection, incident_id: str) -> str | None:
    """The id of the incident `incident_id` was found to duplicate (itself if none); None when no
    outage.detected has named it."""
    query = select(outages.c.canonical_incident_id).where(outages.c.incident_id == incident_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def get_incident(conn: AsyncConnection, incident_id: str) -> Incident | None:
    row = (await conn.execute(select(outages).where(outages.c.incident_id == incident_id))).first()
    return None if row is None else Incident.model_validate(row)


async def open_incidents_of(conn: AsyncConnection, canonical_id: str) -> list[Incident]:
    """The incidents not yet restored that share the canonical id `canonical_id`, by id."""
    query = (
        select(outages)
        .where(outages.c.canonical_incident_id == canonical_id, outages.c.restored_at.is_(None))
        .order_by(outages.c.incident_id)
    )
    return [Incident.model_validate(row) for row in await conn.execute(query)]


async def duplicated_incident(
    conn: AsyncConnection,
    premise_ids: Sequence[str],
    transformer_ids: Sequence[str],
    feeder_ids: Sequence[str],
    detected_at: datetime,
    window: timedelta,
) -> str | None:
    """The canonical id of the earliest open incident detected within `window` of `detected_at` whose
    places overlap these: a premise, transformer or feeder named by both, or a customer (as the
    customers projection knows their premise, transformer and feeder) that both reach. So a
    transformer on a feeder already out joins the feeder's incident, and a feeder incident joins the
    open incident of a transformer or premise on it. None when there is none.

    Why containment both ways: the router keys the outage cohort run by the canonical id
    (router/cohorts.py), and a later report of the same incident joins the running run, which adds
    only the customers who are not members yet. So each premise is told "detected" once per
    incident, a wider report reaches the customers the first did not, and no premise hears of one
    fault twice; an ETR or restoration of any of them then applies to all (incidents/projection.py).

    The rule is symmetric, so two reports of one outage are one incident whichever arrives first."""
    if not (premise_ids or transformer_ids or feeder_ids):
        return None
    premises, transformers, feeders = list(premise_ids), list(transformer_ids), list(feeder_ids)
    reached_here = or_(
        customers.c.premise_id.in_(premises),
        customers.c.transformer_id.in_(transformers),
        customers.c.feeder_id.in_(feeders),
    )
    reached_there = or_(
        customers.c.premise_id == any_(outages.c.premise_ids),
        customers.c.transformer_id == any_(outages.c.transformer_ids),
        customers.c.feeder_id == any_(outages.c.feeder_ids),
    )
    same_place = or_(
        outages.c.premise_ids.overlap(premises),
        outages.c.transformer_ids.overlap(transformers),
        outages.c.feeder_ids.overlap(feeders),
        select(customers.c.customer_id).where(reached_here, reached_there).exists(),
    )
    query = (
        select(outages.c.canonical_incident_id)
        .where(
            outages.c.restored_at.is_(None),
            outages.c.detected_at.between(detected_at - window, detected_at + window),
            same_place,
        )
        .order_by(outages.c.detected_at, outages.c.incident_id)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def premises_on(
    conn: AsyncConnection, transformer_ids: Sequence[str], feeder_ids: Sequence[str]
) -> set[str]:
    """The premises of the customers supplied through these transformers or feeders."""
    if not (transformer_ids or feeder_ids):
        return set()
    query = select(customers.c.premise_id).where(
        customers.c.premise_id.is_not(None),
        or_(
            customers.c.transformer_id.in_(list(transformer_ids)), customers.c.feeder_id.in_(list(feeder_ids))
        ),
    )
    return set((await conn.execute(query)).scalars())


async def save_incident(conn: AsyncConnection, incident: Incident) -> None:
    """Insert the incident, or replace its row."""
    values = incident.model_dump()
    statement = insert(outages).values(values)
    changes = {column: statement.excluded[column] for column in values if column != "incident_id"}
    await conn.execute(statement.on_conflict_do_update(index_elements=[outages.c.incident_id], set_=changes))


async def open_incident_covering(conn: AsyncConnection, customer_id: str) -> str | None:
    """The canonical id of the open incident whose premises, transformers or feeders include the
    customer's (the earliest detected), whether or not their own premise was restored since: None
    when there is none."""
    affected = or_(
        customers.c.premise_id == any_(outages.c.premise_ids),
        customers.c.transformer_id == any_(outages.c.transformer_ids),
        customers.c.feeder_id == any_(outages.c.feeder_ids),
    )
    query = (
        select(outages.c.canonical_incident_id)
        .join(customers, and_(customers.c.customer_id == customer_id, affected))
        .where(outages.c.restored_at.is_(None))
        .order_by(outages.c.detected_at, outages.c.incident_id)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()
