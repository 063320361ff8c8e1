"""had("consent.changed", ...) does not count a consent change that did not apply on arrival (a CRM
grant dated before the STOP already in force): it changed no consent and moved no journey
(projections/consents.py), so the journey asking must not read it as a grant (journeys/onboarding.yaml
branches on it). Real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dsl.functions import history_key
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.history import last_seen
from gridjourney.workflows.contracts import HistoryQuery

AS_OF = datetime(2026, 11, 30, 12, tzinfo=UTC)
GRANTED_SMS = 'event.granted and event.channel == "sms"'


def consent(days_ago: float, granted: bool, method: str, *, at: datetime = AS_OF) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type="consent.changed",
        customer_id="c1",
        occurred_at=at - timedelta(days=days_ago),
        source="test",
        payload={"channel": "sms", "purpose": "informational", "granted": granted, "method": method},
    )


QUERIES = [
    HistoryQuery(event_type="consent.changed", within=timedelta(days=30), where=GRANTED_SMS),
    HistoryQuery(event_type="consent.changed", within=timedelta(days=30), where=None),
]


async def seen(engine: AsyncEngine) -> dict[str, datetime]:
    async with engine.connect() as conn:
        return await last_seen(conn, "c1", QUERIES, AS_OF, None)


async def test_a_grant_that_did_not_apply_is_not_had(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([consent(3, False, "sms_reply")])  # the STOP
    await store.append([consent(5, True, "crm_sync")])  # older, arriving after it: not applied
    found = await seen(engine)
    assert history_key("consent.changed", GRANTED_SMS) not in found
    assert found[history_key("consent.changed", None)] == AS_OF - timedelta(days=3)  # the STOP

    await store.append([consent(1, True, "web")])  # a grant after the STOP applies: had
    found = await seen(engine)
    assert found[history_key("consent.changed", GRANTED_SMS)] == AS_OF - timedelta(days=1)


async def test_a_change_that_did_not_apply_is_passed_over_for_the_newest_that_did(
    engine: AsyncEngine,
) -> None:
    """Without a `where` only the newest change is read: one that did not apply must not hide an
    older one that did. Asked as of a trigger that occurred before the STOP it arrived after, the
    late grant is the newest change up to then."""
    store = EventStore(engine)
    as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    await store.append([consent(0, True, "web", at=as_of - timedelta(days=10))])
    await store.append([consent(0, False, "sms_reply", at=as_of + timedelta(hours=1))])  # the STOP
    await store.append([consent(0, True, "crm_sync", at=as_of - timedelta(hours=1))])  # not applied
    async with engine.connect() as conn:
        found = await last_seen(conn, "c1", QUERIES, as_of, None)
    assert found[history_key("consent.changed", None)] == as_of - timedelta(days=10)
    assert found[history_key("consent.changed", GRANTED_SMS)] == as_of - timedelta(days=10)
