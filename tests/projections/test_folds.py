"""Each projection's fold gives the rows a reader expects."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.context import CustomerRecord
from gridjourney.events.models import NewEvent
from gridjourney.projections.queries import get_customer
from tests.events.builders import BASE_TIME, new_event
from tests.projections.helpers import project, rows


def at(minute: int) -> datetime:
    return BASE_TIME + timedelta(minutes=minute)


async def test_customers_created_then_updated_merges_attributes(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event(
            "customer.created",
            "c-1",
            {
                "name": "Ada",
                "phone": "+15035550100",
                "time_zone": "America/Los_Angeles",
                "attributes": {"ev": True, "tariff": "TOU-A", "solar": False},
            },
        ),
        new_event("customer.created", "c-2", {"name": "Bo"}, minute=1),
        new_event(
            "customer.updated",
            "c-1",
            {"locale": "es", "attributes": {"tariff": "TOU-B", "solar": None}},
            minute=2,
        ),
    )

    ada, bo = await rows(engine, "customers")
    assert ada["name"] == "Ada"  # not named by the update: kept
    assert ada["phone"] == "+15035550100"
    assert ada["locale"] == "es"
    assert ada["time_zone"] == "America/Los_Angeles"
    assert ada["attributes"] == {"ev": True, "tariff": "TOU-B"}  # merged; null removes "solar"
    assert ada["created_at"] == BASE_TIME
    assert ada["updated_at"] == at(2)
    assert ada["last_position"] == 3
    assert (bo["customer_id"], bo["locale"], bo["time_zone"], bo["attributes"]) == ("c-2", "en", "UTC", {})


async def test_customers_update_of_an_unknown_customer_creates_the_row(engine: AsyncEngine) -> None:
    await project(
        engine, new_event("customer.updated", "c-9", {"email": "x@example.com", "attributes": {"a": 1}})
    )

    [row] = await rows(engine, "customers")
    assert (row["customer_id"], row["email"], row["locale"], row["attributes"]) == (
        "c-9",
        "x@example.com",
        "en",
        {"a": 1},
    )


async def test_customers_grid_location_is_stated_by_created_and_changed_field_by_field_by_updated(
    engine: AsyncEngine,
) -> None:
    grid = {"premise_id": "P-1", "transformer_id": "T-1", "feeder_id": "F-1"}
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ada", **grid}),
        new_event("customer.created", "c-2", {"name": "Bo"}, minute=1),
        new_event("customer.updated", "c-1", {"transformer_id": "T-2"}, minute=2),
        new_event("customer.erased", "c-1", {}, minute=3),
    )

    ada, bo = await rows(engine, "customers")
    # The update moved the transformer only; the erasure removed personal data, not the location.
    assert (ada["premise_id"], ada["transformer_id"], ada["feeder_id"]) == ("P-1", "T-2", "F-1")
    assert ada["name"] is None and ada["erased_at"] == at(3)
    assert (bo["premise_id"], bo["transformer_id"], bo["feeder_id"]) == (None, None, None)
    async with engine.connect() as conn:
        view = await get_customer(conn, "c-1")
    assert view is not None
    record = CustomerRecord.model_validate(view.model_dump())
    assert (record.premise_id, record.transformer_id, record.feeder_id) == ("P-1", "T-2", "F-1")


async def test_consents_keep_the_latest_change_per_channel_and_purpose(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event(
            "consent.changed",
            "c-1",
            {"channel": "sms", "purpose": "marketing", "granted": True, "method": "web"},
        ),
        new_event(
            "consent.changed", "c-1", {"channel": "email", "purpose": "marketing", "granted": True}, minute=1
        ),
        new_event(
            "consent.changed",
            "c-1",
            {"channel": "sms", "purpose": "marketing", "granted": False, "method": "sms_stop"},
            minute=2,
        ),
    )

    found = {
        (r["channel"], r["purpose"]): (r["granted"], r["method"], r["updated_at"])
        for r in await rows(engine, "consents")
    }
    assert found == {
        ("email", "marketing"): (True, None, at(1)),
        ("sms", "marketing"): (False, "sms_stop", at(2)),
    }


async def test_messages_follow_their_status_by_idempotency_key(engine: AsyncEngine) -> None:
    sent = {
        "journey_id": "onboarding",
        "instance_id": "i-1",
        "step_id": "welcome",
        "channel": "sms",
        "template": "welcome",
        "locale": "en",
    }
    await project(
        engine,
        new_event("message.sent", "c-1", {"idempotency_key": "k1", **sent, "provider_message_id": "SM1"}),
        new_event("message.sent", "c-1", {"idempotency_key": "k2", **sent}, minute=1),
        new_event(
            "message.suppressed", "c-1", {"idempotency_key": "k3", **sent, "reason": "no_consent"}, minute=2
        ),
        new_event("message.delivered", "c-1", {"idempotency_key": "k1"}, minute=3),
        new_event("message.failed", "c-1", {"idempotency_key": "k2", "reason": "invalid_number"}, minute=4),
    )

    k1, k2, k3 = await rows(engine, "messages")
    assert (k1["status"], k1["provider_message_id"], k1["template"], k1["occurred_at"], k1["updated_at"]) == (
        "delivered",
        "SM1",
        "welcome",
        at(0),
        at(3),
    )
    assert (k2["status"], k2["reason"], k2["channel"]) == ("failed", "invalid_number", "sms")
    assert (k3["status"], k3["reason"]) == ("suppressed", "no_consent")


async def test_a_delivery_report_before_the_send_record_is_not_downgraded(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event(
            "message.delivered", "c-1", {"idempotency_key": "k1", "provider_message_id": "SM1"}, minute=2
        ),
        new_event(
            "message.sent",
            "c-1",
            {"idempotency_key": "k1", "template": "welcome", "channel": "sms"},
            minute=1,
        ),
    )

    [k1] = await rows(engine, "messages")
    assert (k1["status"], k1["template"], k1["provider_message_id"]) == ("delivered", "welcome", "SM1")
    assert (k1["occurred_at"], k1["updated_at"]) == (at(1), at(2))


def journey(what: str, minute: int, instance: str = "i-1", **extra: object) -> NewEvent:
    ids = {"journey_id": "high_bill_alert", "version": 1, "instance_id": instance}
    return new_event(f"journey.{what}", "c-1", {**ids, **extra}, minute=minute)


async def test_journey_instances_track_steps_conversion_and_exit(engine: AsyncEngine) -> None:
    await project(
        engine,
        journey("entered", 0, holdout=False),
        journey("step_completed", 1, step_id="alert", kind="send", outcome="sent", next_step="pause"),
        journey("converted", 2, goal_event="usage.reduced"),
        journey("step_completed", 3, step_id="pause", kind="wait", next_step="tips"),
        journey("entered", 4, instance="i-2", holdout=True),
        journey("exited", 5, instance="i-2", reason="bill.issued"),
    )

    first, second = await rows(engine, "journey_instances")
    # current_step is where the journey is now: the step after the last one completed
    assert (first["status"], first["current_step"], first["steps_completed"]) == ("active", "tips", 2)
    assert first["converted_at"] == at(2)  # converted, yet still running its remaining steps
    assert (second["status"], second["exit_reason"], second["holdout"]) == ("exited", "bill.issued", True)

    await project(engine, journey("exited", 6, reason="completed"))
    first, _ = await rows(engine, "journey_instances")
    assert (first["status"], first["exit_reason"], first["updated_at"]) == ("converted", None, at(6))


async def test_reentering_a_finished_instance_starts_it_afresh(engine: AsyncEngine) -> None:
    await project(
        engine,
        journey("entered", 0, holdout=False),
        journey("step_completed", 1, step_id="alert", kind="send"),
        journey("exited", 2, reason="completed"),
    )
    [done] = await rows(engine, "journey_instances")
    assert (done["status"], done["steps_completed"]) == ("completed", 1)

    await project(engine, journey("entered", 10, holdout=False))
    [again] = await rows(engine, "journey_instances")
    assert (again["status"], again["steps_completed"], again["current_step"]) == ("active", 0, None)
    assert again["entered_at"] == at(10)


async def test_an_erasure_clears_a_failure_reason_folded_after_it_was_read(engine: AsyncEngine) -> None:
    # The projection read message.failed (opened) before the erasure committed, and folds it after:
    # the erasure's own event, later in the log, clears the reason again.
    failed = new_event(
        "message.failed",
        "c-1",
        {"idempotency_key": "k-1", "channel": "sms", "reason": "21211: +15035550100 is not a valid number"},
    )
    erased = new_event("customer.erased", "c-1", {})
    await project(engine, failed, erased)

    [row] = await rows(engine, "messages")
    assert row["status"] == "failed" and row["reason"] is None


async def test_journey_instances_fold_a_whole_batch_as_one_event_at_a_time(engine: AsyncEngine) -> None:
    """A run's entry, steps, exit and `after_exit` re-entry in one batch (one read, one upsert) give
    the row that folding them one batch each gives."""

    def run(instance: str) -> list[NewEvent]:
        return [
            journey("entered", 0, instance, holdout=True),
            journey("step_completed", 1, instance, step_id="alert", kind="send", next_step="pause"),
            journey("converted", 2, instance, goal_event="usage.reduced"),
            journey("exited", 3, instance, reason="completed"),
            journey("entered", 4, instance, holdout=False),
            journey("step_completed", 5, instance, step_id="alert", kind="send", next_step="pause"),
            journey("exited", 6, instance, reason="bill.issued"),
        ]

    assert await project(engine, *run("one-at-a-time"), batch_size=1) == 7
    assert await project(engine, *run("in-one-batch")) == 7

    batched, single = await rows(engine, "journey_instances")
    assert (batched["instance_id"], single["instance_id"]) == ("in-one-batch", "one-at-a-time")
    differ = {"instance_id", "last_position"}
    assert {k: v for k, v in batched.items() if k not in differ} == {
        k: v for k, v in single.items() if k not in differ
    }
    ended = (single["status"], single["exit_reason"], single["steps_completed"])
    assert ended == ("exited", "bill.issued", 1)
    assert (single["holdout"], single["converted_at"], single["entered_at"]) == (False, None, at(4))
