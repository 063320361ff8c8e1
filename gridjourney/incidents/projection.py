"""The outages projection: outage.detected, outage.etr_updated and outage.restored into `outages`.

Deduplication: an incident whose places overlap those of an open incident detected within
`settings.outage_dedup_window` (a premise, transformer or feeder in common, or a customer both reach,
as a transformer on a feeder that is out: `queries.duplicated_incident`, the one copy of the rule) is the
same incident. It keeps its own row, and its `canonical_incident_id` is that incident's: the router
keys the cohort run by it, so one run notifies both. The incidents sharing a canonical id are one
incident from then on: an ETR or a restoration of any of them applies to all of them that are still
open. A second outage.detected of the same incident id adds to its scope and keeps its canonical id;
it does not reopen a restored incident (a late redelivery of the first report must not put the power
out again).

A restoration naming premises, transformers or feeders adds the premises restored (for a transformer
or feeder: the premises of the customers there, as the customers projection knows them when the event
is folded) to `restored_premise_ids`. The incident is over (`restored_at`) when a restoration names
none, or when everything it named is restored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.config import get_settings
from gridjourney.db.tables import outages
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import OutageDetected, OutageEtrUpdated, OutageRestored
from gridjourney.incidents import queries
from gridjourney.incidents.queries import Incident
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


def _union(*lists: Iterable[str]) -> list[str]:
    # Sorted, so that a rebuild writes the very rows the live runner wrote.
    return sorted({item for items in lists for item in items})


async def _detected(conn: AsyncConnection, event: StoredEvent) -> None:
    detected = OutageDetected.model_validate(event.payload)
    known = await queries.get_incident(conn, detected.incident_id)
    if known is not None:
        if known.last_position >= event.position:
            return
        merged = known.model_copy(
            update={
                "premise_ids": _union(known.premise_ids, detected.premise_ids),
                "transformer_ids": _union(known.transformer_ids, detected.transformer_ids),
                "feeder_ids": _union(known.feeder_ids, detected.feeder_ids),
                "cause": detected.cause or known.cause,
                "etr": detected.etr or known.etr,
                "last_position": event.position,
            }
        )
        await queries.save_incident(conn, merged)
        return
    canonical = await queries.duplicated_incident(
        conn,
        detected.premise_ids,
        detected.transformer_ids,
        detected.feeder_ids,
        event.occurred_at,
        get_settings().outage_dedup_window,
    )
    incident = Incident(
        incident_id=detected.incident_id,
        canonical_incident_id=canonical or detected.incident_id,
        premise_ids=_union(detected.premise_ids),
        transformer_ids=_union(detected.transformer_ids),
        feeder_ids=_union(detected.feeder_ids),
        cause=detected.cause,
        detected_at=event.occurred_at,
        etr=detected.etr,
        restored_premise_ids=[],
        restored_at=None,
        last_position=event.position,
    )
    await queries.save_incident(conn, incident)


async def _open_group(conn: AsyncConnection, incident_id: str, event: StoredEvent) -> list[Incident]:
    """The open incidents that are one incident with `incident_id`, not yet folded past `event`."""
    canonical = await queries.canonical_incident_id(conn, incident_id)
    if canonical is None:
        log.warning(
            "outages: %s at %d names unknown incident %r; ignored", event.type, event.position, incident_id
        )
        return []
    group = await queries.open_incidents_of(conn, canonical)
    return [incident for incident in group if incident.last_position < event.position]


async def _etr_updated(conn: AsyncConnection, event: StoredEvent) -> None:
    update = OutageEtrUpdated.model_validate(event.payload)
    for incident in await _open_group(conn, update.incident_id, event):
        await queries.save_incident(
            conn, incident.model_copy(update={"etr": update.etr, "last_position": event.position})
        )


async def _fully_restored(conn: AsyncConnection, incident: Incident, restored: OutageRestored) -> bool:
    """Whether everything the incident names has power again, once its restored premises are known."""
    if not restored.named:
        return True
    if (
        set(incident.transformer_ids) <= set(restored.transformer_ids)
        and set(incident.feeder_ids) <= set(restored.feeder_ids)
        and set(incident.premise_ids) <= set(incident.restored_premise_ids)
    ):
        return True
    affected = set(incident.premise_ids) | await queries.premises_on(
        conn, incident.transformer_ids, incident.feeder_ids
    )
    return bool(affected) and affected <= set(incident.restored_premise_ids)


async def _restored(conn: AsyncConnection, event: StoredEvent) -> None:
    restored = OutageRestored.model_validate(event.payload)
    group = await _open_group(conn, restored.incident_id, event)
    if not group:
        return
    premises = set(restored.premise_ids) | await queries.premises_on(
        conn, restored.transformer_ids, restored.feeder_ids
    )
    for incident in group:
        incident = incident.model_copy(
            update={
                "restored_premise_ids": _union(incident.restored_premise_ids, premises),
                "last_position": event.position,
            }
        )
        if await _fully_restored(conn, incident, restored):
            incident = incident.model_copy(update={"restored_at": restored.restored_at})
        await queries.save_incident(conn, incident)


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.type == "outage.detected":
        await _detected(conn, event)
    elif event.type == "outage.etr_updated":
        await _etr_updated(conn, event)
    else:
        await _restored(conn, event)


PROJECTION = Projection(
    name="outages",
    table=outages,
    event_types=frozenset({"outage.detected", "outage.etr_updated", "outage.restored"}),
    apply=apply,
)
