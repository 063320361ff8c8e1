"""One interface for every channel's sender, and the two kinds of failure a send can end in.

The split matters to the send activity: a permanent error (an invalid number, a refused address)
will fail the same way on every retry, so it becomes a `message.failed` event; a transient error
(the provider is down or throttling) is retried by Temporal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from gridjourney.dsl.schema import Channel


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str = Field(description="The send's key; senders that can deduplicate use it.")
    channel: Channel
    customer_id: str | None = Field(None, description="Whose message it is (push finds the devices by it).")
    purpose: str | None = Field(None, description="marketing, informational or safety.")
    locale: str | None = Field(None, description="The rendered template's locale (email footer language).")
    recipient: str = Field(description="E.164 phone number, email address or push endpoint.")
    subject: str | None = Field(None, description="Email subject; push notification title.")
    body: str = Field(description="SMS text, the email's text part, the push notification body.")
    html: str | None = Field(None, description="Email HTML part (rendered with autoescape).")
    url: str | None = Field(None, description="Push: the page the notification opens.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Email headers, e.g. List-Unsubscribe (RFC 8058)."
    )
    status_callback: str | None = Field(None, description="Delivery-status webhook URL, if any.")


class ProviderReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(description="twilio, outbox, ...")
    provider_message_id: str
    status: str = Field(description="The provider's own status word, e.g. queued.")
    segments: int | None = Field(None, description="SMS segments billed, when the provider says.")


class SendError(Exception):
    """A send that did not go through. `code` is the provider's error code when it gave one."""

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class PermanentSendError(SendError):
    """Retrying cannot help. `invalid_recipient` marks errors about the address itself, which later
    become suppressions (the address should not be tried again)."""

    def __init__(self, reason: str, *, code: str | None = None, invalid_recipient: bool = False) -> None:
        super().__init__(reason, code=code)
        self.invalid_recipient = invalid_recipient


class TransientSendError(SendError):
    """Worth retrying. `maybe_accepted` is True when the request may have reached the provider (a
    timeout or a dropped connection after sending): the message may already be on its way, so a retry
    follows the purpose's rule for ambiguous sends instead of simply sending again."""

    def __init__(self, reason: str, *, code: str | None = None, maybe_accepted: bool = False) -> None:
        super().__init__(reason, code=code)
        self.maybe_accepted = maybe_accepted


class LookupUnavailable(Exception):
    """The provider cannot say whether it has a message (no look-up API, or it is unreachable)."""


class LookupNotYet(LookupUnavailable):
    """The provider cannot say *yet* (its records lag behind its sends): asked again after
    `retry_after`, it can. The send is looked up again later rather than held for an operator."""

    def __init__(self, reason: str, *, retry_after: timedelta) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Sender(Protocol):
    """Sends one message on one channel. Raises PermanentSendError or TransientSendError."""

    async def send(self, message: OutgoingMessage) -> ProviderReceipt: ...

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        """The provider's record of this message if it accepted it at or after `since`, else None.
        Used when an earlier attempt may have reached the provider before it crashed. Raises
        LookupUnavailable when the provider cannot answer (then the purpose decides)."""
        ...

    async def close(self) -> None: ...
