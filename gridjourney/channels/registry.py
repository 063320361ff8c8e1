"""Which sender serves which channel, from settings.

SMS goes through Twilio and email through SendGrid (the real APIs, or the local stand-ins when no
base URL is set); push through Web Push to each subscription's push service, signed with the VAPID
key (channels/push.py) and the policy's subject.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.channels.base import Sender
from gridjourney.channels.email import email_sender_from_settings
from gridjourney.channels.push import WebPushSender, vapid_signer
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel
from gridjourney.policy.loader import policy_from_settings

Senders = Mapping[Channel, Sender]


def twilio_base_url(settings: Settings) -> str:
    """The configured Twilio URL, or the embedded stack's stand-in on 127.0.0.1."""
    return settings.twilio_base_url or f"http://127.0.0.1:{settings.sms_standin_port}"


def build_senders(settings: Settings, engine: AsyncEngine) -> dict[Channel, Sender]:
    policy = policy_from_settings(settings)
    return {
        "sms": TwilioSmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=policy.senders.sms.from_number,
            base_url=twilio_base_url(settings),
        ),
        "email": email_sender_from_settings(settings, policy),
        "push": WebPushSender(
            engine=engine,
            vapid=vapid_signer(settings),
            vapid_subject=policy.senders.push.vapid_subject,
            local_endpoints=settings.push_local_endpoints,
            max_subscriptions=settings.push_subscriptions_per_customer,
        ),
    }


async def close_senders(senders: Senders) -> None:
    # One sender may serve several channels (tests give the recording outbox both email and push):
    # close each once.
    seen: set[int] = set()
    for sender in senders.values():
        if id(sender) not in seen:
            seen.add(id(sender))
            await sender.close()
