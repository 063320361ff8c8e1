"""The embedded stack's wiring: settings → stand-in on the configured port → the SMS sender finds it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.email import SendGridEmailSender
from gridjourney.channels.push import WebPushSender
from gridjourney.channels.registry import build_senders, close_senders, twilio_base_url
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.channels.twilio_standin import standin_from_settings
from gridjourney.config import Settings
from tests.conftest import SHIPPED_POLICY
from tests.ports import free_port


def test_an_explicit_base_url_wins_over_the_standin() -> None:
    assert twilio_base_url(Settings(twilio_base_url="https://api.twilio.com")) == "https://api.twilio.com"
    assert twilio_base_url(Settings(sms_standin_port=9999)) == "http://127.0.0.1:9999"


async def test_default_settings_send_sms_to_the_embedded_standin(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = Settings(sms_standin_port=free_port(), home=tmp_path, policy_file=SHIPPED_POLICY)
    senders = build_senders(settings, engine)
    assert isinstance(senders["sms"], TwilioSmsSender)
    assert isinstance(senders["email"], SendGridEmailSender)
    assert isinstance(senders["push"], WebPushSender)
    assert senders["push"].vapid_subject == "mailto:alerts@cascadepower.example"  # policy.yaml's
    assert (tmp_path / "vapid-private-key.txt").is_file()  # generated once under home
    async with standin_from_settings(settings) as standin:
        receipt = await senders["sms"].send(
            OutgoingMessage(idempotency_key="k", channel="sms", recipient="+15035550100", body="Test")
        )
        await close_senders(senders)
    assert [m.sid for m in standin.received] == [receipt.provider_message_id]
    assert standin.received[0].from_ == "+15005550006"  # policy.yaml's senders.sms.from_number


async def test_the_sms_sender_identity_is_the_policys(engine: AsyncEngine, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(SHIPPED_POLICY.read_text().replace('"+15005550006"', '"+15035550123"'))
    settings = Settings(sms_standin_port=free_port(), home=tmp_path, policy_file=policy_file)
    senders = build_senders(settings, engine)
    async with standin_from_settings(settings) as standin:
        await senders["sms"].send(
            OutgoingMessage(idempotency_key="k", channel="sms", recipient="+15035550100", body="Test")
        )
        await close_senders(senders)
    assert [m.from_ for m in standin.received] == ["+15035550123"]
