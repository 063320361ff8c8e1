"""A template that cannot be read at send time (saved as Windows-1252, or nested deeper than Jinja
can compile) is a permanent `template_error`, recorded like any failed message, never an exception
the activity's retry policy repeats for hours."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities
from gridjourney.channels.base import Sender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel
from gridjourney.policy.model import Policy
from tests.activities.conftest import add_customer, message_events
from tests.activities.test_send import ALL_PURPOSES, ledger_status, open_policy, request


@pytest.fixture
def activities(
    engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender], policy: Policy
) -> JourneyActivities:
    return JourneyActivities(engine, settings, senders, policy=open_policy(policy))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            b"It\x92s time to check your bill, {{ customer.name }}",
            "sms/en/cp1252.j2:1:3: not UTF-8 (byte 0x92)",
        ),
        (b"{{ " + b"(" * 3000 + b"1" + b")" * 3000 + b" }}", "sms/en/cp1252.j2:1: nested too deeply"),
        (b"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "sms/en/cp1252.j2:1: maximum recursion depth"),
    ],
    ids=["windows-1252", "nested", "macro loop"],
)
async def test_an_unreadable_template_fails_the_message_once_with_its_line(
    engine: AsyncEngine,
    activities: JourneyActivities,
    standin: TwilioStandIn,
    templates_dir: Path,
    source: bytes,
    reason: str,
) -> None:
    (templates_dir / "sms/en/cp1252.j2").write_bytes(source)
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    outcome = await activities.send_message(request(template="cp1252", channels=["sms"]))
    assert outcome.status == "failed"
    assert outcome.reason is not None and outcome.reason.startswith(f"template_error: {reason}")
    assert standin.received == []
    assert await ledger_status(engine, request().idempotency_key) == "failed"
    # the timeline shows the failure (its reason sealed, as every message event's)
    assert [kind for kind, _ in await message_events(engine, "c1")] == ["message.failed"]
