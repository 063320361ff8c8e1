"""Many messages to the providers at once (a cohort batch), each in the provider's bulk way.

Email goes to a sender with `send_many` (SendGrid: personalizations, channels/email.py) in slices of
up to 1,000 recipients; SMS and push go one request per message, with at most `concurrency[channel]`
requests in flight (a `PreparingSender`, push, first reads what all of them need in one query).
Before each call a channel's `Throttle` (the shared rate limit,
activities/rate_limit.py) is asked for as many tokens as the call carries messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gridjourney.channels.base import OutgoingMessage, ProviderReceipt, Sender, SendError, TransientSendError
from gridjourney.dsl.schema import Channel

Answer = ProviderReceipt | SendError
BULK_SLICE = 1000  # recipients per send_many call (SendGrid's personalizations per request)
DEFAULT_CONCURRENCY = 32


class Throttle(Protocol):
    async def acquire(self, count: int = 1) -> None:
        """Wait until `count` messages may go out."""
        ...


@runtime_checkable
class BulkSender(Protocol):
    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[Answer]:
        """One answer per message, in order: its receipt or its error."""
        ...


@runtime_checkable
class PreparingSender(Protocol):
    async def with_subscriptions_of(self, messages: Sequence[OutgoingMessage]) -> Sender:
        """A sender for these messages with what it needs of them read once (push: subscriptions)."""
        ...


@dataclass
class ProviderCalls:
    """`concurrency`: requests in flight per channel (default 32); `throttles`: rate limits."""

    senders: Mapping[Channel, Sender]
    throttles: Mapping[Channel, Throttle] = field(default_factory=dict)
    concurrency: Mapping[Channel, int] = field(default_factory=dict)

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[Answer]:
        """One answer per message, in order. Only cancellation propagates: any other failure of a
        call is that message's TransientSendError (it may have reached the provider)."""
        answers: list[Answer | None] = [None] * len(messages)
        by_channel: dict[Channel, list[int]] = {}
        for index, message in enumerate(messages):
            by_channel.setdefault(message.channel, []).append(index)
        async with asyncio.TaskGroup() as group:
            for channel, indexes in by_channel.items():
                limit = asyncio.Semaphore(self.concurrency.get(channel, DEFAULT_CONCURRENCY))
                sender = self.senders[channel]
                if isinstance(sender, BulkSender):
                    for start in range(0, len(indexes), BULK_SLICE):
                        part = indexes[start : start + BULK_SLICE]
                        group.create_task(self._many(sender, channel, messages, part, answers, limit))
                else:
                    if isinstance(sender, PreparingSender):
                        try:
                            sender = await sender.with_subscriptions_of([messages[i] for i in indexes])
                        except SendError as error:
                            for index in indexes:
                                answers[index] = error
                            continue
                    for index in indexes:
                        group.create_task(self._one(sender, channel, messages, index, answers, limit))
        return [answer for answer in answers if answer is not None]

    async def _one(
        self,
        sender: Sender,
        channel: Channel,
        messages: Sequence[OutgoingMessage],
        index: int,
        answers: list[Answer | None],
        limit: asyncio.Semaphore,
    ) -> None:
        async with limit:
            if channel in self.throttles:
                await self.throttles[channel].acquire()
            try:
                answers[index] = await sender.send(messages[index])
            except SendError as error:
                answers[index] = error
            except Exception as error:
                answers[index] = _unexpected(error)

    async def _many(
        self,
        sender: BulkSender,
        channel: Channel,
        messages: Sequence[OutgoingMessage],
        indexes: list[int],
        answers: list[Answer | None],
        limit: asyncio.Semaphore,
    ) -> None:
        async with limit:
            if channel in self.throttles:
                await self.throttles[channel].acquire(len(indexes))
            try:
                found: list[Answer] = await sender.send_many([messages[i] for i in indexes])
            except Exception as error:
                found = [_unexpected(error)] * len(indexes)
            for index, answer in zip(indexes, found, strict=True):
                answers[index] = answer


def _unexpected(error: Exception) -> TransientSendError:
    return TransientSendError(f"{type(error).__name__}: {error}", maybe_accepted=True)
