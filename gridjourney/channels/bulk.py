"""Many messages to the providers at once (a cohort batch), each in the provider's bulk way.

Email goes to a sender with `send_many` (SendGrid: personalizations, channels/email.py) one request's
worth at a time: the messages identical but for the recipient (`content_key`), up to 1,000 of them.
SMS and push go one request per message. At most `concurrency[channel]` requests are in flight (a
`PreparingSender`, push, first reads what all of them need in one query). Before each request a
channel's `Throttle` (the shared rate limit, activities/rate_limit.py) is asked for as many tokens as
it carries messages, then `starting` is told which messages go (the ledger marks them `calling`), and
after it `answered` gets their answers: only requests in flight are ever in doubt
(activities/batch_calls.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gridjourney.channels.base import OutgoingMessage, ProviderReceipt, Sender, SendError, TransientSendError
from gridjourney.channels.email import content_key
from gridjourney.dsl.schema import Channel

Answer = ProviderReceipt | SendError
# Told the indexes (into `send`'s messages) of one request about to go; returns those that may go.
Starting = Callable[[Sequence[int]], Awaitable[Collection[int]]]
# Told one request's indexes and their answers, in order, once it has answered.
Answered = Callable[[Sequence[int], Sequence[Answer]], Awaitable[None]]
BULK_SLICE = 1000  # recipients per send_many call (SendGrid's personalizations per request)
DEFAULT_CONCURRENCY = 32


class NotCalled(SendError):
    """`starting` withheld the message (another attempt took its key over): it was not sent."""


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

    async def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        starting: Starting | None = None,
        answered: Answered | None = None,
    ) -> list[Answer]:
        """One answer per message, in order. Only cancellation and the hooks' errors propagate: any
        other failure of a call is that message's TransientSendError (it may have reached the
        provider). A message `starting` withholds is answered NotCalled."""
        answers: list[Answer | None] = [None] * len(messages)
        by_channel: dict[Channel, list[int]] = {}
        for index, message in enumerate(messages):
            by_channel.setdefault(message.channel, []).append(index)
        async with asyncio.TaskGroup() as group:
            for channel, indexes in by_channel.items():
                limit = asyncio.Semaphore(self.concurrency.get(channel, DEFAULT_CONCURRENCY))
                sender = self.senders[channel]
                if isinstance(sender, BulkSender):
                    requests: dict[tuple[object, ...], list[int]] = {}
                    for index in indexes:
                        requests.setdefault(content_key(messages[index]), []).append(index)
                    calls = [
                        _Call(
                            self,
                            sender,
                            channel,
                            messages,
                            same[start : start + BULK_SLICE],
                            answers,
                            limit,
                            sender,
                        )
                        for same in requests.values()
                        for start in range(0, len(same), BULK_SLICE)
                    ]
                else:
                    if isinstance(sender, PreparingSender):
                        try:
                            sender = await sender.with_subscriptions_of([messages[i] for i in indexes])
                        except SendError as error:
                            for index in indexes:
                                answers[index] = error
                            if answered is not None:
                                await answered(indexes, [error] * len(indexes))
                            continue
                    calls = [
                        _Call(self, sender, channel, messages, [i], answers, limit, None) for i in indexes
                    ]
                for call in calls:
                    group.create_task(call.run(starting, answered))
        return [answer for answer in answers if answer is not None]


@dataclass
class _Call:
    """One provider request: a message (SMS, push) or a group of emails of identical content."""

    calls: ProviderCalls
    sender: Sender
    channel: Channel
    messages: Sequence[OutgoingMessage]
    indexes: list[int]
    answers: list[Answer | None]
    limit: asyncio.Semaphore
    # The sender as a BulkSender, told once per channel: a runtime-checkable protocol's isinstance
    # looks at every attribute each time: about 0.01 ms for each SMS or push.
    bulk: BulkSender | None

    async def run(self, starting: Starting | None, answered: Answered | None) -> None:
        async with self.limit:
            throttle = self.calls.throttles.get(self.channel)
            if throttle is not None:
                await throttle.acquire(len(self.indexes))
            going = self.indexes
            if starting is not None:
                allowed = set(await starting(self.indexes))
                going = [i for i in self.indexes if i in allowed]
                for index in self.indexes:
                    if index not in allowed:
                        self.answers[index] = NotCalled("its key was taken over before the call")
            if going:
                found = await self._request([self.messages[i] for i in going])
                for index, answer in zip(going, found, strict=True):
                    self.answers[index] = answer
        if answered is not None:
            await answered(
                self.indexes, [a for a in (self.answers[i] for i in self.indexes) if a is not None]
            )

    async def _request(self, messages: list[OutgoingMessage]) -> list[Answer]:
        try:
            if self.bulk is not None:
                return await self.bulk.send_many(messages)
            return [await self.sender.send(messages[0])]
        except SendError as error:
            return [error] * len(messages)
        except Exception as error:
            return [_unexpected(error)] * len(messages)


def _unexpected(error: Exception) -> TransientSendError:
    return TransientSendError(f"{type(error).__name__}: {error}", maybe_accepted=True)
