"""Real Postgres (the `engine` fixture), the Twilio stand-in over HTTP, and templates on disk."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities
from gridjourney.channels.base import Sender
from gridjourney.channels.outbox import OutboxSender
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.db.tables import events
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from tests.stack import all_day_policy

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "activities-test-token"
FROM_NUMBER = "+15005550006"

TEMPLATES = {
    "sms/en/high_bill.j2": "Hi {{ customer.name }}, your bill may reach ${{ event.projected_amount }}. "
    "Reply STOP to opt out.",
    "sms/es/high_bill.j2": "Hola {{ customer.name }}, su factura podría llegar a "
    "${{ event.projected_amount }}. Responda STOP para cancelar.",
    "email/en/high_bill.j2": "Subject: Your bill is trending high\n\nHi {{ customer.name }} "
    "({{ customer.plan }}), projected ${{ event.projected_amount }} "
    "({{ journey.id }} v{{ journey.version }}).",
    "sms/en/outage.j2": "Power outage at your address. Crews are on the way.",
    "sms/en/broken.j2": "Hi {{ customer.nickname }}",
}


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    async with TwilioStandIn("127.0.0.1", 0, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as running:
        yield running


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    for name, text in TEMPLATES.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "templates"


@pytest.fixture
def settings(standin: TwilioStandIn, templates_dir: Path, tmp_path: Path) -> Settings:
    # The shipped policy, sendable around the clock: these tests pass whatever the hour in Los Angeles
    # (quiet hours have tests of their own, with their own clock and policy).
    return Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_base_url=standin.base_url,
        templates_dir=templates_dir,
        policy_file=all_day_policy(tmp_path),
        # The stand-in takes every request at once: an interrupted call is looked up soon after.
        send_look_up_after=timedelta(seconds=0.3),
    )


@pytest.fixture
async def senders(settings: Settings, engine: AsyncEngine) -> AsyncIterator[dict[Channel, Sender]]:
    sms = TwilioSmsSender(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=FROM_NUMBER,
        base_url=settings.twilio_base_url,
    )
    outbox = OutboxSender(engine)
    yield {"sms": sms, "email": outbox, "push": outbox}
    await sms.close()


@pytest.fixture
def activities(engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender]) -> JourneyActivities:
    return JourneyActivities(engine, settings, senders)


async def add_customer(
    engine: AsyncEngine,
    customer_id: str,
    *,
    phone: str | None = "+15035550100",
    email: str | None = None,
    locale: str = "en",
    name: str = "Ana",
    time_zone: str = "America/Los_Angeles",
    attributes: dict[str, object] | None = None,
    consent: Sequence[tuple[str, str, bool]] = (),
) -> None:
    """Appends customer.created and consent.changed, and folds them into the projections."""
    now = datetime.now(UTC)
    profile = {
        "name": name,
        "phone": phone,
        "email": email,
        "locale": locale,
        "time_zone": time_zone,
        "attributes": attributes or {},
    }
    new = [
        NewEvent(
            event_id=uuid.uuid4(),
            type="customer.created",
            customer_id=customer_id,
            occurred_at=now,
            source="test",
            payload=profile,
        )
    ]
    new += [
        NewEvent(
            event_id=uuid.uuid4(),
            type="consent.changed",
            customer_id=customer_id,
            occurred_at=now,
            source="test",
            payload={"channel": channel, "purpose": purpose, "granted": granted, "method": "web"},
        )
        for channel, purpose, granted in consent
    ]
    await EventStore(engine).append(new)
    await ProjectionRunner(engine).catch_up()


async def message_events(engine: AsyncEngine, customer_id: str) -> list[tuple[str, dict[str, object]]]:
    query = (
        select(events.c.type, events.c.payload)
        .where(events.c.customer_id == customer_id, events.c.type.like("message.%"))
        .order_by(events.c.position)
    )
    async with engine.connect() as conn:
        return [(t, p) for t, p in await conn.execute(query)]


async def count_rows(engine: AsyncEngine, table_name: str) -> int:
    table = {"events": events}[table_name]
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
