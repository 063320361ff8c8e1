"""End to end: JourneyWorkflow on the Temporal dev server with the real activities (ledger, policy,
eligibility, the Twilio stand-in) over Postgres. A step's own sending window, narrower than the
policy's, defers the alert until it opens; the journey waits on a timer and asks again; a customer who
replied STOP meanwhile is suppressed, the other gets the SMS.

Real time, not time-skipping: the send activity judges quiet hours by the wall clock, so the step's
window opens at the next minute and the test waits for it (under a minute).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.channels.outbox import OutboxSender
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.dsl.windows import TimeWindow
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.workflows.journey import JourneyWorkflow
from tests.activities.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, add_customer, message_events
from tests.workflows.helpers import start, waiting_at
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, compiled, event

ZONE = "America/New_York"


def next_window(now: datetime) -> tuple[str, datetime]:
    """A window that opens at the next minute in ZONE (one later if that is only seconds away), and
    the moment it opens."""
    opens = now.astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if opens - now < timedelta(seconds=8):
        opens += timedelta(minutes=1)
    closes = opens + timedelta(hours=2)
    end = "24:00" if closes.date() != opens.date() else f"{closes:%H:%M}"
    return f"{opens:%H:%M}-{end}", opens.astimezone(UTC)


def journey_yaml(window: str) -> str:
    return f"""
id: daytime_alert
purpose: informational
trigger: {{event: bill.projection_updated}}
steps:
  - id: alert
    send: {{channels: [sms], template: high_bill, sending_hours: "{window}"}}
"""


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    async with TwilioStandIn("127.0.0.1", 0, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as running:
        yield running


@pytest.fixture
def all_day_policy(policy: Policy) -> Policy:
    """The shipped policy with informational messages allowed around the clock: only the step's own
    window can defer them."""
    rules = policy.rules("informational").model_copy(
        update={"sending_hours": [TimeWindow.parse("00:00-24:00")]}
    )
    return policy.model_copy(update={"purposes": {**policy.purposes, "informational": rules}})


@pytest.fixture
async def activities(
    engine: AsyncEngine, standin: TwilioStandIn, tmp_path: Path, all_day_policy: Policy
) -> AsyncIterator[JourneyActivities]:
    template = tmp_path / "sms" / "en" / "high_bill.j2"
    template.parent.mkdir(parents=True)
    template.write_text("Hi {{ customer.name }}, your bill is trending high. Reply STOP to opt out.")
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_base_url=standin.base_url,
        templates_dir=tmp_path,
    )
    sms = TwilioSmsSender(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER, base_url=standin.base_url
    )
    outbox = OutboxSender(engine)
    yield JourneyActivities(
        engine, settings, {"sms": sms, "email": outbox, "push": outbox}, policy=all_day_policy
    )
    await sms.close()


async def stop_reply(engine: AsyncEngine, customer_id: str) -> None:
    revoked = NewEvent(
        event_id=uuid.uuid4(),
        type="consent.changed",
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        source="twilio",
        payload={"channel": "sms", "purpose": "informational", "granted": False, "method": "sms_reply"},
    )
    await EventStore(engine).append([revoked])
    await ProjectionRunner(engine).catch_up()


async def test_a_step_window_defers_the_send_until_it_opens_and_checks_consent_again(
    engine: AsyncEngine,
    temporal_dev_env: WorkflowEnvironment,
    activities: JourneyActivities,
    standin: TwilioStandIn,
) -> None:
    window, opens = next_window(datetime.now(UTC))
    journey = compiled(journey_yaml(window))
    consent = [("sms", "informational", True)]
    await add_customer(engine, "c-sent", phone="+15035550101", time_zone=ZONE, consent=consent)
    await add_customer(engine, "c-stop", phone="+15035550102", time_zone=ZONE, consent=consent)
    client = temporal_dev_env.client
    async with (
        Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[JourneyWorkflow],
            activities=activities.journey_activities,
        ),
        Worker(client, task_queue=SEND_TASK_QUEUE, activities=activities.send_activities),
    ):
        handles = {
            customer: await start(
                temporal_dev_env, journey, customer, event("bill.projection_updated", customer)
            )
            for customer in ("c-sent", "c-stop")
        }
        for handle in handles.values():
            waiting = await waiting_at(handle, "alert")
            assert waiting.waiting_until == opens
        assert standin.received == []
        await stop_reply(engine, "c-stop")

        finals = {
            customer: await asyncio.wait_for(h.result(), timeout=120) for customer, h in handles.items()
        }

    assert {customer: final.status for customer, final in finals.items()} == {
        "c-sent": "completed",
        "c-stop": "completed",
    }
    [sms] = standin.received
    assert sms.to == "+15035550101" and sms.date_created >= opens
    sent = await message_events(engine, "c-sent")
    assert [kind for kind, _ in sent] == ["message.deferred", "message.sent"]
    deferral = sent[0][1]
    assert (deferral["time_zone"], datetime.fromisoformat(str(deferral["until"]))) == (ZONE, opens)
    stopped = await message_events(engine, "c-stop")
    assert [kind for kind, _ in stopped] == ["message.deferred", "message.suppressed"]
    assert stopped[1][1]["reason"] == "sms: consent_revoked"
    assert finals["c-stop"].steps_taken[0].outcome == "suppressed:sms: consent_revoked"
    assert local_minute(opens) == time.fromisoformat(window.split("-")[0])


def local_minute(moment: datetime) -> time:
    return moment.astimezone(ZoneInfo(ZONE)).time()
