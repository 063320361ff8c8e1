"""GET /v1/customers/{id} and its timeline: in log order, each entry with the reason in words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import consents, customers
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.privacy import queries as erasures
from gridjourney.privacy.temporal_erasures import NO_CLIENT
from gridjourney.projections.runner import ProjectionRunner
from tests.api.conftest import KeyFactory
from tests.api.test_events import bill_event


def engine_event(event_type: str, payload: dict[str, object]) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        customer_id="C-1",
        occurred_at=datetime.now(UTC),
        source="engine",
        payload=payload,
    )


async def add_customer_rows(engine: AsyncEngine) -> None:
    # Projection rows as the projections subscription writes them (it is tested on its own).
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(customers).values(
                customer_id="C-1",
                name="Ana Ruiz",
                phone="+15035550142",
                locale="es",
                time_zone="America/Los_Angeles",
                premise_id="P-7",
                attributes={"rate_plan": "TOU-D"},
                created_at=now,
                updated_at=now,
                last_position=1,
            )
        )
        await conn.execute(
            insert(consents).values(
                customer_id="C-1",
                channel="sms",
                purpose="informational",
                granted=True,
                updated_at=now,
                last_position=1,
            )
        )


async def test_customer_with_consents(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await add_customer_rows(engine)
    response = await client.get("/v1/customers/C-1", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Ana Ruiz" and body["attributes"] == {"rate_plan": "TOU-D"}
    assert (body["premise_id"], body["transformer_id"], body["feeder_id"]) == ("P-7", None, None)
    assert body["consents"] == [
        {
            "channel": "sms",
            "purpose": "informational",
            "granted": True,
            "method": None,
            "source": None,
            "updated_at": body["consents"][0]["updated_at"],
        }
    ]


async def test_unknown_customer_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for path in ("/v1/customers/nobody", "/v1/customers/nobody/timeline"):
        response = await client.get(path, headers=admin)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_timeline_explains_each_entry_in_position_order(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await client.post("/v1/events", json=bill_event(), headers=admin)).status_code == 201
    ids = {"journey_id": "high_bill_alert", "version": 1, "instance_id": "journey:high_bill_alert:C-1:w1"}
    await EventStore(engine).append(
        [
            engine_event("journey.entered", {**ids, "holdout": False}),
            engine_event(
                "message.suppressed",
                {
                    "idempotency_key": "k1",
                    "journey_id": "high_bill_alert",
                    "channel": "sms",
                    "template": "high_bill_alert",
                    "reason": "no sms consent for marketing",
                },
            ),
            engine_event(
                "journey.step_completed", {**ids, "step_id": "alert", "kind": "send", "outcome": "suppressed"}
            ),
            engine_event("journey.exited", {**ids, "reason": "bill.issued"}),
        ]
    )
    response = await client.get("/v1/customers/C-1/timeline", headers=admin)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["position"] for i in items] == sorted(i["position"] for i in items)
    assert [i["kind"] for i in items] == ["event", "journey", "message", "journey", "journey"]
    lines = [i["line"] for i in items]
    assert lines[0].startswith("bill projected at 182.40 USD against a typical 121.00 USD (+51%)")
    assert lines[1] == "entered journey high_bill_alert (version 1)"
    assert lines[2] == "message suppressed: no sms consent for marketing (sms, high_bill_alert)"
    assert lines[3] == "journey high_bill_alert: step alert (send) done: suppressed"
    assert lines[4] == "left journey high_bill_alert: bill.issued"
    assert items[1]["instance_id"] == ids["instance_id"]


async def test_timeline_pages(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    batch = [bill_event() for _ in range(5)]
    assert (await client.post("/v1/events", json={"events": batch}, headers=admin)).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/customers/C-1/timeline", params=params, headers=admin)).json()
        seen += [item["event_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [e["event_id"] for e in batch] and cursor is None
    bad = await client.get("/v1/customers/C-1/timeline", params={"cursor": "!!"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_a_bill_projection_carries_the_ratio_its_line_quotes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    without = bill_event()  # 182.40 against 121.00, no ratio sent
    given = bill_event(
        payload={"projected_amount": 150.0, "typical_amount": 100.0, "days_left": 9, "ratio": 1.5}
    )
    for event in (without, given):
        assert (await client.post("/v1/events", json=event, headers=admin)).status_code == 201
    items = (await client.get("/v1/customers/C-1/timeline", headers=admin)).json()["items"]
    assert [item["payload"]["ratio"] for item in items] == [round(182.4 / 121.0, 4), 1.5]
    assert [item["line"].split(" (")[1][:4] for item in items] == ["+51%", "+50%"]


async def test_a_goal_follows_the_send_that_preceded_it(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """Log order, not `occurred_at`: integrations date their events (a usage reduction measured over
    last week), the engine dates its own when it records them. Ordered by time, the goal below would
    come before the alert that led to it."""
    ids = {"journey_id": "high_bill_alert", "version": 1, "instance_id": "journey:high_bill_alert:C-1:we-1"}
    sent = engine_event(
        "message.sent",
        {
            "idempotency_key": "k1",
            "journey_id": "high_bill_alert",
            "channel": "sms",
            "template": "high_bill_alert",
        },
    )
    goal = bill_event(
        type="usage.reduced",
        occurred_at=(sent.occurred_at - timedelta(days=2)).isoformat(),
        payload={"kwh_saved": 40.0, "period_days": 7},
    )
    store = EventStore(engine)
    await store.append([engine_event("journey.entered", {**ids, "holdout": False}), sent])
    assert (await client.post("/v1/events", json=goal, headers=admin)).status_code == 201
    await store.append(
        [
            engine_event(
                "journey.converted", {**ids, "goal_event": "usage.reduced", "goal_event_id": goal["event_id"]}
            )
        ]
    )
    items = (await client.get("/v1/customers/C-1/timeline", headers=admin)).json()["items"]
    assert [item["type"] for item in items] == [
        "journey.entered",
        "message.sent",
        "usage.reduced",
        "journey.converted",
    ]
    assert items[-1]["line"] == "reached the goal of journey high_bill_alert (usage.reduced)"


def created_event(customer_id: str = "C-1") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "customer.created",
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "crm",
        "payload": {"name": "Ana Ruiz", "phone": "+15035550142", "email": "ana.ruiz@example.com"},
    }


async def test_the_timeline_shows_personal_fields_opened(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await client.post("/v1/events", json=created_event(), headers=admin)).status_code == 201
    response = await client.get("/v1/customers/C-1/timeline", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["payload"]["phone"] == "+15035550142"


async def pending(engine: AsyncEngine) -> list[tuple[str, int, str | None]]:
    """The erasures whose Temporal part is pending: customer, attempts, last error."""
    async with engine.connect() as conn:
        return [(row.customer_id, row.attempts, row.last_error) for row in await erasures.pending(conn)]


async def test_erasure_is_admin_only_idempotent_and_answers_erased_afterwards(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: KeyFactory, engine: AsyncEngine
) -> None:
    assert (await client.post("/v1/events", json=created_event(), headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    writer = await make_key("events:write", "journeys:read", "journeys:write")
    assert (await client.delete("/v1/customers/C-1", headers=writer)).status_code == 403

    first = await client.delete("/v1/customers/C-1", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["already_erased"] is False
    # Temporal is unreachable here: the erasure stands, the deletion of their workflows is pending
    assert first.json()["temporal"] == "pending" and first.json()["workflows_deleted"] == 0
    assert await pending(engine) == [("C-1", 1, NO_CLIENT)]  # recorded, to be retried
    again = await client.delete("/v1/customers/C-1", headers=admin)
    assert again.status_code == 200
    assert again.json() == first.json() | {"already_erased": True}
    assert await pending(engine) == [("C-1", 2, NO_CLIENT)]  # the repeat tried again

    for path in ("/v1/customers/C-1", "/v1/customers/C-1/timeline"):
        read = await client.get(path, headers=admin)
        assert read.status_code == 404, read.text
        assert read.headers["content-type"].startswith("application/problem+json")
        assert read.json()["erased"] is True
        assert "Ana" not in read.text
    for body in (bill_event(), {"events": [bill_event(customer_id="C-2"), bill_event()]}):
        refused = await client.post("/v1/events", json=body, headers=admin)
        assert refused.status_code == 410, refused.text
        assert refused.json()["erased"] is True
        assert refused.json()["errors"] == [{"field": "customer_id", "reason": "erased"}]
    assert (
        await client.post("/v1/events", json=bill_event(customer_id="C-2"), headers=admin)
    ).status_code == 201


async def test_erasing_an_unknown_customer_is_404_and_integrations_cannot_post_the_erasure(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.delete("/v1/customers/nobody", headers=admin)
    assert response.status_code == 404 and "erased" not in response.json()
    posted = created_event() | {"type": "customer.erased", "payload": {}}
    refused = await client.post("/v1/events", json=posted, headers=admin)
    assert refused.status_code == 422, refused.text


def at_minute(minute: int) -> datetime:
    return datetime(2026, 12, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=minute)


def dated(event: NewEvent, minute: int) -> NewEvent:
    return event.model_copy(update={"occurred_at": at_minute(minute)})


ALERT = {"idempotency_key": "k1", "journey_id": "high_bill_alert", "template": "high_bill_alert"}


async def test_the_timeline_words_each_send_decision(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stop = {"channel": "sms", "purpose": "informational", "granted": False, "method": "sms_reply"}
    await EventStore(engine).append(
        [
            dated(
                engine_event(
                    "message.deferred",
                    {
                        **ALERT,
                        "until": "2026-12-01T14:00:00+00:00",
                        "time_zone": "America/Chicago",
                        "reason": "sms: quiet_hours (until 2026-12-01 08:00 America/Chicago)",
                    },
                ),
                0,
            ),
            dated(engine_event("consent.changed", stop), 1),
            dated(engine_event("message.suppressed", {**ALERT, "reason": "sms: consent_revoked"}), 660),
            dated(
                engine_event(
                    "message.suppressed",
                    {
                        **ALERT,
                        "idempotency_key": "k2",
                        "reason": "sms: frequency_cap (3 informational sms in 7d)",
                    },
                ),
                661,
            ),
            dated(
                engine_event("message.delivered", {**ALERT, "idempotency_key": "k3", "channel": "sms"}), 662
            ),
            dated(
                engine_event(
                    "message.bounced",
                    {**ALERT, "idempotency_key": "k4", "channel": "email", "bounce_type": "hard"},
                ),
                663,
            ),
        ]
    )
    response = await client.get("/v1/customers/C-1/timeline", headers=admin)
    assert response.status_code == 200, response.text
    assert [item["line"] for item in response.json()["items"]] == [
        "deferred to 08:00 America/Chicago by quiet hours (Tue 2026-12-01, high_bill_alert)",
        "opted out by reply STOP: sms consent for informational messages revoked",
        "not sent: consent revoked by SMS reply (high_bill_alert)",
        "capped: 3 informational SMS in 7 days (high_bill_alert)",
        "sms delivered (high_bill_alert)",
        "email bounced (hard) (high_bill_alert)",
    ]


async def test_a_revocation_before_the_page_still_says_how(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    link = {"channel": "email", "purpose": "marketing", "granted": False, "method": "unsubscribe_link"}
    store = EventStore(engine)
    await store.append([dated(engine_event("consent.changed", link), 0)])
    await ProjectionRunner(engine).catch_up()
    refused: dict[str, object] = {**ALERT, "reason": "email: consent_revoked"}
    await store.append([dated(engine_event("message.suppressed", refused), 10)])
    first = (await client.get("/v1/customers/C-1/timeline", params={"limit": 1}, headers=admin)).json()
    page = await client.get(
        "/v1/customers/C-1/timeline", params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
    )
    assert [item["line"] for item in page.json()["items"]] == [
        "not sent: consent revoked by unsubscribe link (high_bill_alert)"
    ]

    # A consent changed after the suppression says nothing about it.
    await store.append([dated(engine_event("consent.changed", {**link, "method": "web"}), 20)])
    await ProjectionRunner(engine).catch_up()
    page = await client.get(
        "/v1/customers/C-1/timeline", params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
    )
    assert [item["line"] for item in page.json()["items"]] == ["not sent: consent revoked (high_bill_alert)"]


async def test_a_late_consent_change_that_did_not_apply_says_why(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """A CRM grant dated before the STOP in force arrives after it: the log and the timeline keep it,
    and its line says it changed nothing (the consent shown stays revoked)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stop = {"channel": "sms", "purpose": "informational", "granted": False, "method": "sms_reply"}
    store = EventStore(engine)
    revoked = engine_event("consent.changed", stop).model_copy(
        update={"occurred_at": now - timedelta(minutes=30)}
    )
    await store.append([revoked])
    grant = {**stop, "granted": True, "method": "web"}
    late = engine_event("consent.changed", grant).model_copy(
        update={"occurred_at": now - timedelta(minutes=60)}
    )
    await store.append([late])
    await ProjectionRunner(engine).catch_up()
    timeline = (await client.get("/v1/customers/C-1/timeline", headers=admin)).json()["items"]
    lines = [item["line"] for item in timeline if item["type"] == "consent.changed"]
    stopped_at = (now - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M")
    assert lines[1].endswith(
        f"; not applied: older than the revocation already in force (by SMS reply, {stopped_at} UTC)"
    )
    assert "not applied" not in lines[0]
