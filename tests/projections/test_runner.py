"""Replays change nothing; a rebuild gives the tables the live runner built; the runner runs live; an
event a fold refuses is set aside with none of its writes, and the events after it are folded."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import customers, events
from gridjourney.events import dead_letters
from gridjourney.events.models import NewEvent, StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription, set_checkpoint
from gridjourney.projections import runner as projections_runner
from gridjourney.projections.runner import ProjectionRunner, apply_events, rebuild
from tests.events.builders import BASE_TIME, new_event, usage
from tests.projections.helpers import dump, project, rows


def scenario(customers_count: int = 12, seed: int = 7) -> list[NewEvent]:
    """A day of a small utility: sign-ups, profile changes, consent, journeys and their messages."""
    rng = random.Random(seed)
    out: list[NewEvent] = []
    for n in range(customers_count):
        c = f"c-{n}"
        attributes = {"segment": rng.choice(["ev", "solar", "flat"]), "score": rng.random()}
        grid = {"premise_id": f"P-{n}", "transformer_id": f"T-{n // 4}", "feeder_id": f"F-{n // 8}"}
        profile = {"name": f"Customer {n}", "attributes": attributes, **grid}
        out.append(new_event("customer.created", c, profile, minute=n))
        if n % 2 == 0:
            out.append(new_event("program.enrolled", c, {"program": "ptr"}, minute=n))
        out.append(
            new_event(
                "consent.changed", c, {"channel": "sms", "purpose": "marketing", "granted": True}, minute=n
            )
        )
    for n in range(customers_count):
        c, minute = f"c-{n}", 100 + n
        instance = {"journey_id": "onboarding", "version": 1, "instance_id": f"onboarding:{c}"}
        key = {"idempotency_key": f"onboarding:{c}:welcome", "journey_id": "onboarding", "channel": "sms"}
        out.append(new_event("journey.entered", c, {**instance, "holdout": n % 5 == 0}, minute=minute))
        out.append(new_event("message.sent", c, key, minute=minute))
        out.append(
            new_event(
                "journey.step_completed", c, {**instance, "step_id": "welcome", "kind": "send"}, minute=minute
            )
        )
        out.append(
            new_event("customer.updated", c, {"attributes": {"score": None, "visits": n}}, minute=minute)
        )
        if n % 3 == 0:
            out.append(new_event("message.failed", c, {**key, "reason": "invalid_number"}, minute=minute + 1))
            number = {"channel": "sms", "address": f"+1503555{n:04d}"}
            out.append(
                new_event("suppression.added", c, {**number, "reason": "invalid_number"}, minute=minute + 1)
            )
            if n % 2 == 0:
                out.append(new_event("suppression.removed", c, number, minute=minute + 5))
            out.append(new_event("journey.exited", c, {**instance, "reason": "completed"}, minute=minute + 2))
        else:
            out.append(new_event("message.delivered", c, key, minute=minute + 1))
            out.append(
                new_event(
                    "journey.converted", c, {**instance, "goal_event": "usage.reduced"}, minute=minute + 1
                )
            )
        if n % 4 == 0:
            payload = {"channel": "sms", "purpose": "marketing", "granted": False, "method": "sms_stop"}
            out.append(new_event("consent.changed", c, payload, minute=minute + 3))
        if n % 5 == 1:
            browser = {"endpoint": f"https://push.example/{c}", "p256dh": "BKey-" + c, "auth": "auth-" + c}
            out.append(new_event("push.subscribed", c, browser, minute=minute + 4))
        if n % 6 == 0:
            out.append(new_event("program.unenrolled", c, {"program": "ptr"}, minute=minute + 6))
        out.append(usage(c))
    out.extend(grid_events())
    return out


def grid_events() -> list[NewEvent]:
    """A DR event rescheduled then cancelled, and two outages, one deduplicated and partly restored."""
    window = {"dr_event_id": "dr-1", "start": "2026-07-02T17:00:00Z", "end": "2026-07-02T19:00:00Z"}
    etr = {"incident_id": "o-1", "etr": "2026-07-01T18:00:00Z"}
    return [
        new_event("dr.event_scheduled", None, {**window, "program": "ptr"}, minute=200),
        new_event(
            "dr.event_modified",
            None,
            {**window, "modification_number": 1, "end": "2026-07-02T20:00:00Z"},
            minute=201,
        ),
        new_event("dr.event_cancelled", None, {"dr_event_id": "dr-1"}, minute=202),
        new_event("outage.detected", None, {"incident_id": "o-1", "transformer_ids": ["T-0"]}, minute=210),
        new_event("outage.detected", None, {"incident_id": "o-2", "transformer_ids": ["T-0"]}, minute=211),
        new_event("outage.etr_updated", None, etr, minute=212),
        new_event(
            "outage.restored",
            None,
            {"incident_id": "o-1", "premise_ids": ["P-1"], "restored_at": "2026-07-01T17:00:00Z"},
            minute=213,
        ),
    ]


async def append_in_chunks(engine: AsyncEngine, events: list[NewEvent], size: int) -> None:
    store = EventStore(engine)
    for start in range(0, len(events), size):
        await store.append(events[start : start + size])


async def test_replaying_the_same_events_changes_nothing(engine: AsyncEngine) -> None:
    await project(engine, *scenario())
    before = await dump(engine)
    assert all(before.values())  # every table has rows, so the comparison means something

    batch = await EventStore(engine).read_after(0, limit=10_000)
    for _ in range(2):
        async with engine.begin() as conn:
            await apply_events(conn, batch)

    assert await dump(engine) == before


async def test_rebuild_gives_the_tables_the_incremental_runner_built(engine: AsyncEngine) -> None:
    events = scenario()
    runner = ProjectionRunner(engine, batch_size=7)
    # Built in many small steps, interleaved with appends, as the live runner would.
    for start in range(0, len(events), 11):
        await append_in_chunks(engine, events[start : start + 11], 3)
        await runner.catch_up()
    incremental = await dump(engine)
    assert all(incremental.values())

    progress: list[tuple[int, int]] = []
    result = await rebuild(
        engine, batch_size=10, on_progress=lambda done, total: progress.append((done, total))
    )

    assert await dump(engine) == incremental
    head = await EventStore(engine).head()
    assert (result.events, result.position) == (len(events), head)
    assert result.counts == {table: len(rows) for table, rows in incremental.items()}
    assert progress[0] == (0, head)
    assert progress[-1] == (head, head)
    assert len(progress) == 1 + -(-len(events) // 10)
    assert await runner.checkpoint() == head


async def test_rebuild_repairs_a_damaged_table_and_the_runner_continues_after_it(engine: AsyncEngine) -> None:
    events = scenario()
    await project(engine, *events[:40])
    good = await dump(engine)
    async with engine.begin() as conn:
        await conn.execute(update(customers).values(name="corrupted"))

    await rebuild(engine)
    assert await dump(engine) == good

    runner = ProjectionRunner(engine)
    await append_in_chunks(engine, events[40:], 5)
    assert await runner.catch_up() == len(events) - 40
    fresh_rebuild_of_everything = await dump(engine)
    await rebuild(engine)
    assert await dump(engine) == fresh_rebuild_of_everything


async def test_rebuild_of_an_empty_log_empties_the_tables(engine: AsyncEngine) -> None:
    result = await rebuild(engine)
    assert (result.events, result.position) == (0, 0)
    assert result.counts == {
        "customers": 0,
        "consents": 0,
        "messages": 0,
        "journey_instances": 0,
        "push_subscriptions": 0,
        "suppressions": 0,
        "customer_programs": 0,
        "outages": 0,
        "dr_events": 0,
    }


async def test_the_runner_projects_appends_as_they_happen(engine: AsyncEngine) -> None:
    runner = ProjectionRunner(engine, poll_interval=3600.0)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    try:
        await asyncio.wait_for(runner.subscription.ready.wait(), timeout=60)
        await EventStore(engine).append([new_event("customer.created", "c-live", {"name": "Live"})])
        for _ in range(6000):
            if (await dump(engine))["customers"]:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task

    [row] = (await dump(engine))["customers"]
    assert row[:2] == ("c-live", "Live")
    assert runner.subscription.notifications >= 1
    assert await runner.checkpoint() == 1


LEGACY_NAME = "Old Format " + "x" * 190  # 201 characters: longer than the customers table takes


async def append_legacy_customer(engine: AsyncEngine, customer_id: str) -> int:
    """An event as an older release wrote it, straight into the log: today's model refuses its payload."""
    async with engine.begin() as conn:
        row = await conn.execute(
            insert(events)
            .values(
                event_id=uuid.uuid4(),
                type="customer.created",
                customer_id=customer_id,
                occurred_at=BASE_TIME,
                source="legacy",
                payload={"name": LEGACY_NAME, "phone": "+15035550199"},
            )
            .returning(events.c.position)
        )
        return int(row.scalar_one())


async def projection_letters(engine: AsyncEngine) -> list[dead_letters.DeadLetter]:
    async with engine.connect() as conn:
        return await dead_letters.list_for(conn, projections_runner.SUBSCRIPTION_NAME)


async def test_an_event_written_before_a_schema_change_is_set_aside_and_the_rest_is_folded(
    engine: AsyncEngine,
) -> None:
    await EventStore(engine).append([new_event("customer.created", "c-before", {"name": "Before"})])
    legacy = await append_legacy_customer(engine, "c-legacy")
    await EventStore(engine).append([new_event("customer.created", "c-after", {"name": "After"})])
    runner = ProjectionRunner(engine)

    assert await runner.catch_up() == 3

    assert [row[0] for row in (await dump(engine))["customers"]] == ["c-after", "c-before"]
    assert await runner.checkpoint() == legacy + 1
    [letter] = await projection_letters(engine)
    assert (letter.position, letter.event_type) == (legacy, "customer.created")
    # The error says what went wrong, never with the customer's data.
    assert letter.error and "Old Format" not in letter.error and "5550199" not in letter.error

    # A rebuild folds it again, sets it aside again, and still builds everything else.
    result = await rebuild(engine)
    assert result.counts["customers"] == 2
    assert [letter.position for letter in await projection_letters(engine)] == [legacy]


async def test_a_bug_in_a_fold_sets_that_event_aside_without_its_writes(engine: AsyncEngine) -> None:
    async def fold_with_a_bug(conn: AsyncConnection, batch: list[StoredEvent]) -> None:
        # The real folds, then a new fold that breaks on one customer after the others have written.
        await apply_events(conn, batch)
        for event in batch:
            if event.customer_id == "c-bug":
                raise ZeroDivisionError("division by zero")

    await EventStore(engine).append(
        [
            new_event("customer.created", "c-1", {"name": "One"}),
            new_event("customer.created", "c-bug", {"name": "Bug"}),
            new_event("customer.created", "c-3", {"name": "Three"}),
        ]
    )
    subscription = Subscription(engine, projections_runner.SUBSCRIPTION_NAME, transactional=fold_with_a_bug)

    assert await subscription.catch_up() == 3

    assert [row[0] for row in (await dump(engine))["customers"]] == ["c-1", "c-3"]
    assert [(letter.position, letter.error) for letter in await projection_letters(engine)] == [
        (2, "ZeroDivisionError: division by zero")
    ]
    assert await subscription.checkpoint() == 3


async def test_an_envelope_accepted_under_older_rules_is_still_read_and_the_rest_is_folded(
    engine: AsyncEngine,
) -> None:
    # Today's door refuses an empty customer_id and a year-1 time; an older release took both.
    async with engine.begin() as conn:
        await conn.execute(
            insert(events).values(
                event_id=uuid.uuid4(),
                type="consent.changed",
                customer_id="",
                occurred_at=datetime(1, 1, 1, tzinfo=UTC),
                source="legacy",
                payload={"channel": "sms", "purpose": "marketing", "granted": True},
            )
        )
    await EventStore(engine).append([new_event("customer.created", "c-after", {"name": "After"})])
    runner = ProjectionRunner(engine)

    assert await runner.catch_up() == 2

    assert [row[0] for row in (await dump(engine))["customers"]] == ["c-after"]
    assert await runner.checkpoint() == 2


async def test_retrying_a_dead_letter_that_a_later_event_superseded_still_folds_it(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([new_event("customer.created", "c-1", {"name": "Ada", "locale": "es"})])
    await store.append([new_event("customer.updated", "c-1", {"name": "Ada Lovelace"})])
    [created, updated] = await store.read_after(0)
    async with engine.begin() as conn:
        # As if a fold bug, fixed since, had set the creation aside and the update had been folded.
        await apply_events(conn, [updated])
        await dead_letters.record(conn, projections_runner.SUBSCRIPTION_NAME, created, "KeyError: 'bug'", 3)
        await set_checkpoint(conn, projections_runner.SUBSCRIPTION_NAME, updated.position)

    report = await ProjectionRunner(engine).retry_dead_letters()

    assert (report.retried, report.succeeded, report.failed) == (1, 1, 0)
    [row] = await rows(engine, "customers")
    # The creation's locale is there, under the later name: each event folded in its place.
    assert (row["name"], row["locale"]) == ("Ada Lovelace", "es")
