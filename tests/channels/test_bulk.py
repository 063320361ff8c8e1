"""ProviderCalls against the SendGrid stand-in over real HTTP: one request per group of identical
emails, each told to `starting` just before it goes and to `answered` as soon as it answers, so that
the cohort batch marks `calling` per request (activities/batch_calls.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence

import pytest

from gridjourney.channels.base import ProviderReceipt
from gridjourney.channels.bulk import Answer, NotCalled, ProviderCalls
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from tests.channels.sendgrid_fixtures import API_KEY
from tests.channels.test_email import email, sender_for


@pytest.fixture
async def standin() -> AsyncIterator[SendGridStandIn]:
    async with SendGridStandIn("127.0.0.1", 0, api_key=API_KEY) as running:
        yield running


async def test_each_request_of_identical_emails_is_started_and_answered_on_its_own(
    standin: SendGridStandIn,
) -> None:
    messages = [email(f"a{n}@example.org", idempotency_key=f"k{n}", customer_id=f"c{n}") for n in range(3)]
    messages += [
        email(f"b{n}@example.org", locale="es", idempotency_key=f"j{n}", customer_id=f"d{n}")
        for n in range(2)
    ]
    started: list[list[int]] = []
    answered: list[tuple[list[int], list[Answer]]] = []

    async def starting(indexes: Sequence[int]) -> Collection[int]:
        started.append(sorted(indexes))
        assert len(standin.requests) == len(started) - 1  # told before its request goes
        return indexes

    async def on_answer(indexes: Sequence[int], answers: Sequence[Answer]) -> None:
        answered.append((sorted(indexes), list(answers)))

    calls = ProviderCalls({"email": sender_for(standin.base_url)}, concurrency={"email": 1})
    answers = await calls.send(messages, starting=starting, answered=on_answer)

    assert sorted(started) == [[0, 1, 2], [3, 4]]
    assert standin.requests == [len(group) for group in started]
    assert sorted(indexes for indexes, _ in answered) == [[0, 1, 2], [3, 4]]
    assert all(isinstance(a, ProviderReceipt) for _, group in answered for a in group)
    assert [a.provider_message_id for a in answers if isinstance(a, ProviderReceipt)] == [
        received.message_id for received in sorted(standin.received, key=lambda e: e.to)
    ]


async def test_a_message_withheld_at_the_start_is_not_sent_and_answered_not_called(
    standin: SendGridStandIn,
) -> None:
    messages = [email(f"a{n}@example.org", idempotency_key=f"k{n}", customer_id=f"c{n}") for n in range(3)]

    async def starting(indexes: Sequence[int]) -> Collection[int]:
        return [i for i in indexes if i != 1]  # another attempt took message 1's key over

    answers = await ProviderCalls({"email": sender_for(standin.base_url)}).send(messages, starting=starting)

    assert isinstance(answers[1], NotCalled)
    assert all(isinstance(answers[i], ProviderReceipt) for i in (0, 2))
    assert sorted(e.to for e in standin.received) == ["a0@example.org", "a2@example.org"]
    assert standin.requests == [2]
