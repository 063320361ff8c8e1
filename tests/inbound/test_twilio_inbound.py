"""Inbound SMS: STOP revokes every SMS purpose and suppresses the number, START restores what STOP
took, HELP answers in the customer's language, OUT reports the power still out, anything else is
message.received; retries are idempotent, unknown numbers get their answer and only their STOP is
recorded (for the number, by its hash: tests/privacy/test_unknown_number_stop.py)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Literal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound.queries import ConsentChange
from gridjourney.inbound.twilio_inbound import InboundSms, answer_inbound, opt_out_state
from gridjourney.policy.model import Policy
from gridjourney.privacy.address_hash import ANYONE
from gridjourney.privacy.erasure import erase_customer
from gridjourney.projections import queries
from gridjourney.projections.runner import ProjectionRunner
from tests.events.builders import new_event
from tests.incidents.builders import outage
from tests.projections.helpers import project

PHONE = "+15035550142"
PURPOSES = {"marketing", "informational", "safety"}


def sms(body: str, from_number: str = PHONE, sid: str | None = None) -> InboundSms:
    return InboundSms(message_sid=sid or "SM" + secrets.token_hex(16), from_number=from_number, body=body)


async def add_customer(
    engine: AsyncEngine,
    customer_id: str = "c-1",
    locale: str = "en",
    granted: tuple[str, ...] = (),
    grid: dict[str, str] | None = None,
) -> None:
    await project(
        engine,
        new_event("customer.created", customer_id, {"phone": PHONE, "locale": locale, **(grid or {})}),
        *(
            new_event(
                "consent.changed", customer_id, {"channel": "sms", "purpose": p, "granted": True}, minute=1
            )
            for p in granted
        ),
    )


async def answer(
    engine: AsyncEngine, policy: Policy, message: InboundSms
) -> tuple[str | None, list[StoredEvent]]:
    """The reply, and the events the message recorded."""
    store = EventStore(engine)
    head = await store.head()
    result = await answer_inbound(engine, store, policy, message, datetime.now(UTC))
    await ProjectionRunner(engine).catch_up()
    return result.reply, await store.read_after(head)


async def sms_consents(engine: AsyncEngine, customer_id: str = "c-1") -> dict[str, tuple[bool, str | None]]:
    async with engine.connect() as conn:
        return {c.purpose: (c.granted, c.method) for c in await queries.list_consents(conn, customer_id)}


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stopall",
        "Unsubscribe",
        "CANCEL",
        "end",
        "QUIT",
        "REVOKE",
        "OPT OUT",
        "stop texting me",
        "no more",
    ],
)
async def test_stop_revokes_every_sms_purpose_and_suppresses_the_number(
    engine: AsyncEngine, policy: Policy, body: str
) -> None:
    await add_customer(engine, granted=("informational",))
    reply, recorded = await answer(engine, policy, sms(body))

    assert reply == policy.replies.text("stop", "en", policy.program)
    assert "unsubscribed" in reply
    assert await sms_consents(engine) == {purpose: (False, "sms_reply") for purpose in PURPOSES}
    [suppression] = [event for event in recorded if event.type == "suppression.added"]
    assert suppression.payload == {
        "channel": "sms",
        "address": PHONE,
        "reason": "stop_reply",
        "source": "twilio",
    }
    assert {event.type for event in recorded} == {"consent.changed", "suppression.added"}


@pytest.mark.parametrize("body", ["No más mensajes", "dejen de enviarme", "Baja", "darme de baja"])
async def test_spanish_stop_is_confirmed_in_spanish(engine: AsyncEngine, policy: Policy, body: str) -> None:
    await add_customer(engine, locale="es", granted=("informational",))
    reply, _ = await answer(engine, policy, sms(body))

    assert reply == policy.replies.text("stop", "es", policy.program)
    assert "se canceló su suscripción" in reply
    assert await sms_consents(engine) == {purpose: (False, "sms_reply") for purpose in PURPOSES}


async def test_start_restores_what_stop_took_and_no_more(engine: AsyncEngine, policy: Policy) -> None:
    # Informational was granted, marketing never was; safety needs no grant (implied by the policy).
    await add_customer(engine, granted=("informational",))
    await answer(engine, policy, sms("STOP"))
    reply, recorded = await answer(engine, policy, sms("START"))

    assert reply == policy.replies.text("start", "en", policy.program)
    consents = await sms_consents(engine)
    assert consents["informational"] == (True, "sms_reply")
    assert consents["safety"] == (True, "sms_reply")
    assert consents["marketing"] == (False, "sms_reply")  # never granted: START does not opt them in
    [removal] = [event for event in recorded if event.type == "suppression.removed"]
    assert removal.payload["address"] == PHONE and removal.payload["reason"] == "start_reply"


async def test_yes_restores_only_after_a_stop(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    reply, recorded = await answer(engine, policy, sms("Yes"))
    assert reply is None
    assert [(event.type, event.payload["keyword"]) for event in recorded] == [("message.received", "YES")]

    await answer(engine, policy, sms("STOP"))
    reply, _ = await answer(engine, policy, sms("yes!"))
    assert reply == policy.replies.text("start", "en", policy.program)
    assert (await sms_consents(engine))["informational"] == (True, "sms_reply")


@pytest.mark.parametrize(
    ("locale", "body"), [("en", "HELP"), ("en", "info"), ("es", "HELP"), ("es", "ayuda")]
)
async def test_help_answers_in_the_customers_language_and_records_nothing(
    engine: AsyncEngine, policy: Policy, locale: str, body: str
) -> None:
    await add_customer(engine, locale=locale, granted=("informational",))
    reply, recorded = await answer(engine, policy, sms(body))

    assert reply is not None and recorded == []
    assert all(words in reply for words in policy.program.words(locale).values())
    if locale == "en":
        assert "Msg & data rates may apply" in reply and "STOP" in reply
    else:
        assert "Pueden aplicarse tarifas de mensajes y datos" in reply and "STOP" in reply


async def test_an_ordinary_reply_is_message_received_without_consent_change(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, granted=("informational",))
    message = sms("out. Still no power on Elm St")
    reply, recorded = await answer(engine, policy, message)

    assert reply is None
    [received] = recorded
    assert received.type == "message.received" and received.customer_id == "c-1"
    assert received.payload == {
        "channel": "sms",
        "body": "out. Still no power on Elm St",
        "keyword": "OUT",
        "provider_message_id": message.message_sid,
    }
    assert await sms_consents(engine) == {"informational": (True, None)}


async def test_a_retried_webhook_records_nothing_twice(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    stop = sms("STOP")
    first_reply, first = await answer(engine, policy, stop)
    again_reply, again = await answer(engine, policy, stop)
    assert len(first) == 4 and again == []
    assert again_reply == first_reply

    ordinary = sms("thanks")
    assert len((await answer(engine, policy, ordinary))[1]) == 1
    assert (await answer(engine, policy, ordinary))[1] == []


async def test_every_customer_of_a_shared_number_is_stopped(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, "c-1", granted=("informational",))
    await add_customer(engine, "c-2", locale="es")
    reply, recorded = await answer(engine, policy, sms("STOP"))

    assert reply == policy.replies.text("stop", "en", policy.program)  # the first customer's language
    assert {event.customer_id for event in recorded} == {"c-1", "c-2"}
    for customer_id in ("c-1", "c-2"):
        assert await sms_consents(engine, customer_id) == {p: (False, "sms_reply") for p in PURPOSES}


@pytest.mark.parametrize(
    ("body", "kind", "locale"),
    [("STOP", "stop", "en"), ("HELP", "help", "en"), ("ayuda", "help", "es"), ("baja", "stop", "es")],
)
async def test_an_unknown_number_is_answered_and_only_its_stop_is_recorded(
    engine: AsyncEngine, policy: Policy, body: str, kind: Literal["stop", "help"], locale: str
) -> None:
    await add_customer(engine)
    reply, recorded = await answer(engine, policy, sms(body, from_number="+15035550199"))
    assert reply == policy.replies.text(kind, locale, policy.program)
    expected = [("suppression.added", ANYONE)] if kind == "stop" else []
    assert [(event.type, event.customer_id) for event in recorded] == expected


async def test_an_ordinary_message_from_an_unknown_number_is_dropped(
    engine: AsyncEngine, policy: Policy
) -> None:
    reply, recorded = await answer(engine, policy, sms("hello", from_number="+15035550199"))
    assert reply is None and recorded == []


async def test_logs_carry_ids_never_the_number_or_the_text(
    engine: AsyncEngine, policy: Policy, caplog: pytest.LogCaptureFixture
) -> None:
    await add_customer(engine, granted=("informational",))
    message = sms("my neighbour at 12 Elm St has power")
    with caplog.at_level(logging.DEBUG):
        await answer(engine, policy, message)
        await answer(engine, policy, sms("STOP", from_number="+15035550199"))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert message.message_sid in text
    for secret in ("5035550142", "5035550199", "Elm St"):
        assert secret not in text


def change(purpose: str, granted: bool, method: str | None = None) -> ConsentChange:
    return ConsentChange(purpose, granted, method)


def test_opt_out_state_remembers_what_came_before_the_first_stop() -> None:
    changes = [
        change("informational", True, "web"),
        change("marketing", False, "call"),  # revoked before: a START must not grant it
        change("informational", False, "sms_reply"),
        change("marketing", False, "sms_reply"),
        change("safety", False, "sms_reply"),
        change("informational", False, "sms_reply"),  # a second STOP keeps what the first took
    ]
    state = opt_out_state(changes, implied={"safety"})
    assert state.stopped == {"informational", "marketing", "safety"}
    assert state.restorable == {"informational", "safety"}


def test_opt_out_state_after_start_has_nothing_stopped() -> None:
    changes = [change("informational", False, "sms_reply"), change("informational", True, "sms_reply")]
    assert opt_out_state(changes, implied=set()).stopped == frozenset()
    assert opt_out_state([change("safety", False, "web")], implied={"safety"}).stopped == frozenset()


async def test_an_erased_customers_number_is_unknown(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    await erase_customer(engine, EventStore(engine), "c-1")
    await ProjectionRunner(engine).catch_up()
    reply, recorded = await answer(engine, policy, sms("STOP"))
    assert reply == policy.replies.text("stop", "en", policy.program)
    assert [(event.type, event.customer_id) for event in recorded] == [("suppression.added", ANYONE)]


GRID = {"premise_id": "P-1", "transformer_id": "T-1", "feeder_id": "F-1"}


@pytest.mark.parametrize("body", ["OUT", "Still out", "no power", "sigo sin luz"])
async def test_out_reports_the_customers_premise_in_their_open_outage_and_is_confirmed(
    engine: AsyncEngine, policy: Policy, body: str
) -> None:
    await add_customer(engine, granted=("informational",), grid=GRID)
    await project(
        engine,
        outage("outage.detected", "o-1", 1, feeder_ids=["F-1"]),
        outage("outage.detected", "o-2", 2, transformer_ids=["T-1"]),  # a duplicate of o-1
    )
    message = sms(body)
    reply, recorded = await answer(engine, policy, message)

    assert reply == policy.replies.text("outage", "en", policy.program)
    assert reply is not None and "still out" in reply
    reported, received = recorded
    assert (reported.type, reported.customer_id) == ("outage.reported", "c-1")
    assert reported.payload == {"incident_id": "o-1", "premise_id": "P-1", "channel": "sms"}
    assert received.type == "message.received" and received.payload["body"] == body
    assert await sms_consents(engine) == {"informational": (True, None)}  # not a STOP


async def test_out_without_an_open_outage_reports_the_premise_alone(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, grid=GRID)
    await project(
        engine,
        outage("outage.detected", "o-1", 1, premise_ids=["P-1"]),
        outage("outage.restored", "o-1", 2, restored_at="2026-07-01T12:30:00Z"),
    )
    _, recorded = await answer(engine, policy, sms("OUT"))

    assert [event.payload for event in recorded if event.type == "outage.reported"] == [
        {"incident_id": None, "premise_id": "P-1", "channel": "sms"}
    ]


async def test_out_is_recorded_once_and_unanswered_when_the_policy_has_no_outage_text(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, locale="es", grid=GRID)
    silent = policy.model_copy(update={"replies": policy.replies.model_copy(update={"outage": None})})
    message = sms("OUT")
    reply, recorded = await answer(engine, silent, message)
    again_reply, again = await answer(engine, silent, message)

    assert reply is None and again_reply is None
    assert [event.type for event in recorded] == ["outage.reported", "message.received"]
    assert again == []
    es_reply, _ = await answer(engine, policy, sms("sin luz"))
    assert es_reply == policy.replies.text("outage", "es", policy.program)
    assert es_reply is not None and "sin luz" in es_reply


async def test_out_from_an_unknown_number_records_nothing(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, grid=GRID)
    reply, recorded = await answer(engine, policy, sms("OUT", from_number="+15035550199"))
    assert reply is None and recorded == []


async def test_stop_still_wins_over_out(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",), grid=GRID)
    await project(engine, outage("outage.detected", "o-1", 1, premise_ids=["P-1"]))
    reply, recorded = await answer(engine, policy, sms("OPT OUT"))

    assert reply == policy.replies.text("stop", "en", policy.program)
    assert {event.type for event in recorded} == {"consent.changed", "suppression.added"}
    # an opted-out customer can still report that the power is out
    _, reported = await answer(engine, policy, sms("OUT"))
    assert [event.type for event in reported] == ["outage.reported", "message.received"]
