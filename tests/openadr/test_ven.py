"""VTN -> VEN on loopback: our local VTN (openleadr's server) schedules, modifies and cancels events;
the VEN (openleadr's client) turns them into dr.* events in the real event store, once each.

One VTN serves the whole module (starting one per test cost more than most tests); each test's VEN
has a name of its own, so it is handed its own events only."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.tables import events
from gridjourney.devstack import postgres_database_url
from gridjourney.openadr.mapping import dr_event_id_of
from gridjourney.openadr.ven import RECENT_HANDLED, Ven, VenConfigError, running_ven
from gridjourney.openadr.vtn import LocalVtn, local_vtn

POLL = timedelta(seconds=0.2)


@pytest.fixture(scope="module")
async def vtn() -> AsyncIterator[LocalVtn]:
    async with local_vtn(poll_interval=timedelta(seconds=30)) as served:
        yield served


@pytest.fixture
def ven_name() -> str:
    return f"gridjourney-test-{uuid.uuid4().hex[:8]}"


def settings(ven_name: str) -> Settings:
    return Settings(ven_name=ven_name, ven_poll_interval=POLL)


async def handed_over(vtn: LocalVtn, ven_name: str, *, within: float = 10.0) -> None:
    """Wait until the VEN has polled the VTN's pending deliveries, then for the poll after it (openleadr's
    client handles a delivery before it polls again)."""
    async with asyncio.timeout(within):
        while vtn.server.events_updated.get(ven_name):
            await asyncio.sleep(0.02)
    await asyncio.sleep(POLL.total_seconds() * 1.5)


async def dr_events(engine: AsyncEngine) -> list[tuple[str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.type, events.c.payload)
            .where(events.c.type.like("dr.%"))
            .order_by(events.c.position)
        )
        return [(row.type, row.payload) for row in rows]


def window_of(payload: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(payload["start"]), datetime.fromisoformat(payload["end"])


async def test_an_event_its_modification_and_its_cancellation_arrive_once_each(
    engine: AsyncEngine, vtn: LocalVtn, ven_name: str
) -> None:
    start = (datetime.now(UTC) + timedelta(hours=20)).replace(microsecond=0)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url) as ven:
        event_id = vtn.add_event(
            ven_name=ven_name, program="Peak Time Rewards", start=start, duration=timedelta(hours=3), level=2
        )
        assert (await vtn.answer_for(event_id, 0)).opt_type == "optIn"
        vtn.redeliver(ven_name)
        number = vtn.modify_event(event_id, ven_name=ven_name, start=start + timedelta(hours=1), level=3)
        assert number == 1
        assert (await vtn.answer_for(event_id, 1)).opt_type == "optIn"
        vtn.redeliver(ven_name)
        assert vtn.cancel_event(event_id, ven_name=ven_name) == 2
        assert (await vtn.answer_for(event_id, 2)).opt_type == "optIn"
        vtn.redeliver(ven_name)
        await handed_over(vtn, ven_name)
        assert ven.vtn_id == vtn.vtn_id

    found = await dr_events(engine)
    assert [kind for kind, _ in found] == ["dr.event_scheduled", "dr.event_modified", "dr.event_cancelled"]
    scheduled, modified, cancelled = (payload for _, payload in found)
    assert scheduled["dr_event_id"] == f"{vtn.vtn_id}:{event_id}"
    assert scheduled["program"] == "Peak Time Rewards"
    assert window_of(scheduled) == (start, start + timedelta(hours=3))
    assert (scheduled["signal_level"], scheduled["modification_number"]) == (2.0, 0)
    assert window_of(modified) == (start + timedelta(hours=1), start + timedelta(hours=4))
    assert (modified["signal_level"], modified["modification_number"]) == (3.0, 1)
    assert modified["dr_event_id"] == cancelled["dr_event_id"] == scheduled["dr_event_id"]
    assert [h.outcome for h in ven.handled] == ["scheduled", "modified", "cancelled"]


async def test_a_restarted_ven_sees_every_event_again_and_appends_nothing(
    engine: AsyncEngine, vtn: LocalVtn, ven_name: str
) -> None:
    start = datetime.now(UTC) + timedelta(hours=5)
    event_id = vtn.add_event(ven_name=ven_name, program="ptr", start=start, duration=timedelta(hours=2))
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url):
        await vtn.answer_for(event_id, 0)
    vtn.modify_event(event_id, ven_name=ven_name, level=2)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url) as restarted:
        await vtn.answer_for(event_id, 1)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url) as again:
        async with asyncio.timeout(10):
            while not again.handled:
                await asyncio.sleep(0.05)

    assert [kind for kind, _ in await dr_events(engine)] == ["dr.event_scheduled", "dr.event_modified"]
    assert [h.outcome for h in restarted.handled] == ["modified"]
    assert [(h.outcome, h.opt) for h in again.handled] == [("duplicate", "optIn")]


@pytest.mark.parametrize(
    ("signal_name", "duration", "reason", "response_code"),
    [
        # openleadr's client answers 460 (signal not supported) for a signal name OpenADR does not list
        ("x-price-tier", timedelta(hours=2), "unknown signal name 'x-price-tier'", 460),
        ("SIMPLE", timedelta(0), "the active period has no duration", 200),
    ],
)
async def test_a_bad_event_is_answered_opt_out_and_appends_nothing(
    engine: AsyncEngine,
    vtn: LocalVtn,
    ven_name: str,
    signal_name: str,
    duration: timedelta,
    reason: str,
    response_code: int,
) -> None:
    start = datetime.now(UTC) + timedelta(hours=5)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url) as ven:
        event_id = vtn.add_event(
            ven_name=ven_name, program="ptr", start=start, duration=duration, signal_name=signal_name
        )
        answer = await vtn.answer_for(event_id, 0)
        good = vtn.add_event(ven_name=ven_name, program="ptr", start=start, duration=timedelta(hours=1))
        await vtn.answer_for(good, 0)

    assert (answer.opt_type, answer.response_code) == ("optOut", response_code)
    assert ven.handled[0].outcome == "refused"
    assert reason in (ven.handled[0].reason or "")
    assert [payload["dr_event_id"] for _, payload in await dr_events(engine)] == [f"{vtn.vtn_id}:{good}"]


async def test_a_ven_without_a_vtn_url_is_a_clear_error(engine: AsyncEngine, ven_name: str) -> None:
    with pytest.raises(VenConfigError, match="GRIDJOURNEY_VTN_URL"):
        Ven(engine, settings(ven_name))


async def test_a_certificate_without_its_key_and_ca_is_a_clear_error(engine: AsyncEngine) -> None:
    with pytest.raises(VenConfigError, match="all three"):
        Ven(engine, Settings(vtn_url="https://vtn.example/OpenADR2/Simple/2.0b", ven_cert="ven.pem"))


async def test_the_ven_keeps_trying_until_the_vtn_is_up(engine: AsyncEngine, ven_name: str) -> None:
    vtn = LocalVtn(poll_interval=timedelta(seconds=30))
    port = await vtn.start()
    await vtn.stop()  # a port that was free a moment ago: nothing listens there now
    stop = asyncio.Event()
    ven = Ven(engine, settings(ven_name), vtn_url=f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b")
    task = asyncio.create_task(ven.run(stop))
    await asyncio.sleep(0.5)
    assert not ven.registered.is_set()
    later = LocalVtn(port=port, poll_interval=timedelta(seconds=30))
    await later.start()
    try:
        async with asyncio.timeout(10):
            await ven.registered.wait()
    finally:
        stop.set()
        await task
        await later.stop()
    assert ven.vtn_id == later.vtn_id


async def test_an_event_the_store_could_not_take_is_recorded_at_its_redelivery(
    postgres_url: str, template_database: str, vtn: LocalVtn, ven_name: str
) -> None:
    name = f"openadr_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_database_url(postgres_url, name))  # a database that does not exist yet
    start = datetime.now(UTC) + timedelta(hours=5)
    try:
        # retried quickly: what is checked is that the failure is answered, then recorded at redelivery
        async with running_ven(engine, settings(ven_name), vtn_url=vtn.url, append_backoff=0.05) as ven:
            event_id = vtn.add_event(
                ven_name=ven_name, program="ptr", start=start, duration=timedelta(hours=1)
            )
            assert (await vtn.answer_for(event_id, 0)).opt_type == "optOut"  # openleadr's answer to an error
            assert not ven.handled
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
            vtn.redeliver(ven_name)
            async with asyncio.timeout(10):
                while not ven.handled:
                    await asyncio.sleep(0.05)
        assert [(h.outcome, h.opt) for h in ven.handled] == [("scheduled", "optIn")]
        async with asyncio.timeout(10):
            while [a.opt_type for a in vtn.answers if a.event_id == event_id] != ["optOut", "optIn"]:
                await asyncio.sleep(0.05)
        assert [payload["dr_event_id"] for _, payload in await dr_events(engine)] == [
            dr_event_id_of(vtn.vtn_id, event_id)
        ]
    finally:
        await engine.dispose()


async def test_two_vtns_using_one_event_id_make_two_dr_events(
    engine: AsyncEngine, vtn: LocalVtn, ven_name: str
) -> None:
    start = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    # a VEN of its own at each VTN (the answers the VTNs record are keyed by VEN), one event store
    other_name = f"{ven_name}-b"
    async with (
        local_vtn(vtn_id="OTHER-UTILITY-VTN", poll_interval=timedelta(seconds=30)) as other,
        running_ven(engine, settings(ven_name), vtn_url=vtn.url),
        running_ven(engine, settings(other_name), vtn_url=other.url),
    ):
        for served, name in ((vtn, ven_name), (other, other_name)):
            served.add_event(
                ven_name=name,
                program="ptr",
                start=start,
                duration=timedelta(hours=1),
                event_id="EVT-1",
            )
        await vtn.answer_for("EVT-1", 0)
        await other.answer_for("EVT-1", 0)
        other.cancel_event("EVT-1", ven_name=other_name)
        await other.answer_for("EVT-1", 1)

    found = [(kind, payload["dr_event_id"]) for kind, payload in await dr_events(engine)]
    assert sorted(found[:2]) == [
        ("dr.event_scheduled", "GRIDJOURNEY-LOCAL-VTN:EVT-1"),
        ("dr.event_scheduled", "OTHER-UTILITY-VTN:EVT-1"),
    ]
    assert found[2:] == [("dr.event_cancelled", "OTHER-UTILITY-VTN:EVT-1")]  # the other VTN's event only


async def test_a_level_0_event_notifies_nobody_until_its_level_rises_and_falling_back_cancels_it(
    engine: AsyncEngine, vtn: LocalVtn, ven_name: str
) -> None:
    start = datetime.now(UTC) + timedelta(hours=5)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url) as ven:
        event_id = vtn.add_event(
            ven_name=ven_name, program="ptr", start=start, duration=timedelta(hours=2), level=0
        )
        assert (await vtn.answer_for(event_id, 0)).opt_type == "optIn"  # normal operation: taken part in
        assert await dr_events(engine) == []
        vtn.modify_event(event_id, ven_name=ven_name, level=2)
        await vtn.answer_for(event_id, 1)
        vtn.modify_event(event_id, ven_name=ven_name, level=0)
        assert (await vtn.answer_for(event_id, 2)).opt_type == "optIn"

    found = await dr_events(engine)
    assert [(kind, payload.get("modification_number")) for kind, payload in found] == [
        ("dr.event_scheduled", 1),
        ("dr.event_cancelled", None),
    ]
    assert found[1][1]["reason"] == "level 0 (normal operation)"
    assert [h.outcome for h in ven.handled] == ["normal", "scheduled", "cancelled"]


async def test_the_ven_keeps_only_recent_outcomes_and_the_answers_of_events_it_still_holds(
    engine: AsyncEngine, ven_name: str
) -> None:
    ven = Ven(engine, settings(ven_name), vtn_url="http://127.0.0.1:9/OpenADR2/Simple/2.0b")
    client = ven._new_client()  # openleadr's client, not started: its memory is what is checked
    ven._client = client
    held = {"event_descriptor": {"event_id": "held", "modification_number": 0}}
    client.received_events.append(held)
    client.responded_events.update({"held": "optIn", "ended": "optIn"})
    bad = {"event_descriptor": {"event_id": "held", "modification_number": -1}}  # refused, nothing stored
    for _ in range(RECENT_HANDLED + 5):
        assert await ven._on_event(bad) == "optOut"

    assert len(ven.handled) == RECENT_HANDLED
    assert client.responded_events == {"held": "optIn"}
    await Ven._close(client)


async def test_polling_logs_nothing_from_the_scheduler_below_a_warning(
    engine: AsyncEngine, vtn: LocalVtn, ven_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_ven(engine, settings(ven_name), vtn_url=vtn.url):
        await asyncio.sleep(POLL.total_seconds() * 5)  # a few polls
    chatter = [r for r in caplog.records if r.name.startswith("apscheduler") and r.levelno < logging.WARNING]
    assert chatter == []
    assert any(r.name == "gridjourney.openadr.ven" for r in caplog.records)  # our own lines still show
