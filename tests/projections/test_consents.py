"""The consents projection keeps the change that happened last, not the one that arrived last: a late
change is logged but does not override a newer one; ties keep arrival order; a rebuild agrees."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.projections.consents import (
    consent_history,
    not_applied_notes,
    not_applied_words,
    overruled_on_arrival,
)
from gridjourney.projections.runner import rebuild
from tests.events.builders import BASE_TIME
from tests.projections.helpers import project, rows


def at(minute: int) -> datetime:
    return BASE_TIME + timedelta(minutes=minute)


def consent(
    when: datetime, granted: bool, method: str | None = None, purpose: str = "informational", **to: Any
) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type="consent.changed",
        customer_id=to.get("customer_id", "c-1"),
        occurred_at=when,
        source=to.get("source", "crm"),
        payload={"channel": "sms", "purpose": purpose, "granted": granted, "method": method},
    )


async def in_force(engine: AsyncEngine) -> dict[tuple[str, str], tuple[bool, str | None, datetime]]:
    return {
        (r["customer_id"], r["purpose"]): (r["granted"], r["method"], r["updated_at"])
        for r in await rows(engine, "consents")
    }


async def test_a_change_older_than_the_one_in_force_is_logged_but_not_applied(engine: AsyncEngine) -> None:
    await project(engine, consent(at(10), False, "sms_reply", source="twilio"))
    await project(engine, consent(at(5), True, "web"))  # the CRM catching up, after the STOP

    assert await in_force(engine) == {("c-1", "informational"): (False, "sms_reply", at(10))}
    async with engine.connect() as conn:
        history = await consent_history(conn, "c-1")
    stop, late = history
    assert (late.granted, late.method) == (True, "web")  # kept in the log
    assert overruled_on_arrival(history) == {late.position: stop}
    assert not_applied_words(stop) == (
        "not applied: older than the revocation already in force (by SMS reply, 2026-07-01 12:10 UTC)"
    )
    async with engine.connect() as conn:
        assert await not_applied_notes(conn, "c-1") == {late.position: not_applied_words(stop)}

    await project(engine, consent(at(20), True, "web"))  # a newer grant does apply
    assert await in_force(engine) == {("c-1", "informational"): (True, "web", at(20))}


async def test_changes_of_the_same_moment_keep_arrival_order(engine: AsyncEngine) -> None:
    await project(engine, consent(at(3), True, "web"), consent(at(3), False, "call"))
    assert await in_force(engine) == {("c-1", "informational"): (False, "call", at(3))}
    await project(engine, consent(at(3), True, "web"))
    assert await in_force(engine) == {("c-1", "informational"): (True, "web", at(3))}
    async with engine.connect() as conn:
        assert overruled_on_arrival(await consent_history(conn, "c-1")) == {}


async def test_a_change_dated_ahead_of_the_clock_counts_from_its_arrival(engine: AsyncEngine) -> None:
    # The door accepts occurred_at up to a day ahead: a sender's fast clock must not make its grant
    # outrank a revocation recorded after it.
    ahead = datetime.now(UTC) + timedelta(hours=20)
    await project(engine, consent(ahead, True, "web"))
    assert list((await in_force(engine)).values()) == [(True, "web", ahead)]  # as the sender dated it
    revoked = datetime.now(UTC)
    await project(engine, consent(revoked, False, "unsubscribe_link"))
    assert list((await in_force(engine)).values()) == [(False, "unsubscribe_link", revoked)]
    await project(engine, consent(ahead - timedelta(hours=1), True, "web"))  # arrived later: applies
    assert [v[:2] for v in (await in_force(engine)).values()] == [(True, "web")]


async def test_the_rebuild_gives_the_live_state_whatever_the_arrival_order(engine: AsyncEngine) -> None:
    rng = random.Random(7)
    changes = [
        consent(
            at(rng.randrange(6)),
            rng.random() < 0.5,
            rng.choice(["web", "call", None]),
            purpose,
            customer_id=c,
        )
        for c in ("c-1", "c-2")
        for purpose in ("marketing", "informational", "safety")
        for _ in range(5)
    ]
    rng.shuffle(changes)
    for change in changes:  # one by one: the live runner meets them in this order
        await project(engine, change)
    live = await rows(engine, "consents")

    await rebuild(engine, batch_size=3)
    assert await rows(engine, "consents") == live
    # the state is the newest change per key; at equal moments, the last to arrive
    newest: dict[tuple[str, str], tuple[datetime, int, bool]] = {}
    for position, change in enumerate(changes):
        key = (str(change.customer_id), str(change.payload["purpose"]))
        candidate = (change.occurred_at, position, bool(change.payload["granted"]))
        newest[key] = max(newest.get(key, candidate), candidate)
    assert {(r["customer_id"], r["purpose"]): r["granted"] for r in live} == {
        key: granted for key, (_, _, granted) in newest.items()
    }
