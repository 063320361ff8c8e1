"""The facts the router's trigger conditions read (dsl/functions.py): `now()` is the event's own
time; had() and in_journey() read the customer's history as of the event, as LOAD_CONTEXT does for
the workflow (projections/history.py), and only when a condition the event is matched against asks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import get_settings
from gridjourney.dsl.functions import Facts
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.policy.loader import policy_from_settings
from gridjourney.policy.quiet_hours import zone_for
from gridjourney.projections.history import active_journeys, last_seen
from gridjourney.router.matching import trigger_wants
from gridjourney.workflows.contracts import EventRef, HistoryQuery


async def trigger_facts(
    engine: AsyncEngine,
    event: EventRef,
    customer: dict[str, Any] | None,
    journeys: Iterable[CompiledJourney],
    default_zone: str | None = None,
) -> Facts | None:
    """The facts the router's trigger conditions read: `now()` is the event's time, local_date()'s zone
    the customer's (else the policy's), had() and in_journey() as LOAD_CONTEXT reads them as of the
    event (which itself never counts). None when no condition the event is matched against uses them."""
    wanted = trigger_wants(event.type, journeys)
    if wanted is None or event.customer_id is None:
        return None
    history, journey_ids = wanted
    if default_zone is None:
        default_zone = policy_from_settings(get_settings()).default_time_zone
    zone = zone_for(None if customer is None else customer.get("time_zone"), default_zone)
    queries = [HistoryQuery(event_type=u.event_type, within=u.within, where=u.where) for u in history]
    async with engine.connect() as conn:
        seen = await last_seen(conn, event.customer_id, queries, event.occurred_at, event.event_id)
        found = await active_journeys(conn, event.customer_id, journey_ids) if journey_ids else set()
    return Facts(now=event.occurred_at, zone=zone, last_seen=seen, journeys=frozenset(found))
