"""A cohort chunk's provider calls (activities/send_batch.py), with as few rows in doubt as can be.

Each provider request (one SMS, one push, one SendGrid request of identical emails) moves its rows to
`calling` just before it goes, and hands its answers to the recorder as soon as it has them. The
requests waiting at the same moment share one ledger statement (`GroupCommit`), so this costs a
statement per wave of requests, not per message. A kill at any moment thus leaves in doubt only the
requests in flight and the answers not yet recorded, never the chunk's rows still to be called
(those stay `sending`, and a retry decides them afresh without a look-up).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gridjourney.activities import ledger
from gridjourney.activities.batch_decisions import Finished, Pending
from gridjourney.activities.send import MessageSending
from gridjourney.activities.send_content import ledger_note
from gridjourney.activities.send_events import outcome_event, suppression_event_id
from gridjourney.channels.base import PermanentSendError, SendError
from gridjourney.channels.bulk import Answer, NotCalled, ProviderCalls
from gridjourney.projections.suppressions import suppression_added
from gridjourney.workflows.contracts import SendOutcome

Item = TypeVar("Item")


@dataclass
class CallResults:
    """`finished`: sent or failed for good, to record; `maybe_accepted` / `not_accepted`: keys whose
    call met a transient error (the provider may / cannot have the message); `taken_over`: members (ids)
    whose row another attempt took before the call."""

    finished: list[Finished] = field(default_factory=list)
    maybe_accepted: list[str] = field(default_factory=list)
    not_accepted: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)


Recorder = Callable[[CallResults], Awaitable[None]]


class GroupCommit(Generic[Item]):
    """Callers hand in items and wait; whatever arrived while the last group was being written goes
    in the next one, in one `write`. Each caller gets the write's answer (or its error)."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[Collection[Item]]]) -> None:
        self._write = write
        self._waiting: list[tuple[list[Item], asyncio.Future[set[Item]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, items: Sequence[Item]) -> set[Item]:
        future: asyncio.Future[set[Item]] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(items), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="ledger group commit")
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                written = set(await self._write([item for items, _ in group for item in items]))
            except BaseException as error:
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for items, future in group:
                if not future.done():
                    future.set_result(written.intersection(items))


async def call_providers(
    sending: MessageSending, calls: ProviderCalls, token: str, pending: list[Pending], record: Recorder
) -> None:
    """Call the providers for `pending` (reserved rows, `sending`); `record` gets the answers, a few
    requests' worth at a time, and must have recorded them when it returns."""
    keys = [p.request.idempotency_key for p in pending]
    started: set[str] = set()
    unrecorded: set[str] = set()

    async def start(keys_of_call: list[str]) -> Collection[str]:
        async with sending.engine.begin() as conn:
            return await ledger.start_call_many(conn, keys_of_call, token, sending.claim_lease)

    async def write(results: list[int]) -> Collection[int]:
        await record(_results([(pending[i], answers_by_index[i]) for i in results]))
        return results

    answers_by_index: dict[int, Answer] = {}
    mark_calling = GroupCommit[str](start)
    recording = GroupCommit[int](write)

    async def starting(indexes: Sequence[int]) -> Collection[int]:
        wanted = [keys[i] for i in indexes]
        started.update(wanted)  # from here the provider may have them, until their answers are written
        unrecorded.update(wanted)
        going = await mark_calling(wanted)
        return [i for i in indexes if keys[i] in going]

    async def answered(indexes: Sequence[int], answers: Sequence[Answer]) -> None:
        answers_by_index.update(zip(indexes, answers, strict=True))
        await recording(indexes)
        unrecorded.difference_update(keys[i] for i in indexes)

    try:
        await calls.send([p.message for p in pending], starting=starting, answered=answered)
    except BaseException as error:
        # Crashed (or cancelled despite send_batch.py's shield) mid-call: the provider may have the
        # messages of the requests that went and were not recorded; the others were never called.
        with contextlib.suppress(Exception):
            note = ledger_note(f"{type(error).__name__}: {error}")
            async with sending.engine.begin() as conn:
                await ledger.mark_ambiguous_many(conn, unrecorded, token, note, sending.look_up_after)
                await ledger.release_many(conn, set(keys) - started, token, f"not called: {note}")
        raise


def _results(answered: list[tuple[Pending, Answer]]) -> CallResults:
    """The answers of one group of requests, sorted into what send_batch.py records."""
    results = CallResults()
    for p, answer in answered:
        r, channel = p.request, p.message.channel
        if isinstance(answer, NotCalled):
            results.taken_over.append(r.customer_id)
        elif isinstance(answer, PermanentSendError):
            kind = "invalid_recipient" if answer.invalid_recipient else "provider_refused"
            failed = SendOutcome(status="failed", channel=channel, reason=f"{kind}: {answer.reason}")
            events = [outcome_event(r, failed, locale=p.locale, error_code=answer.code)]
            if answer.invalid_recipient:
                key = suppression_event_id(r.idempotency_key)
                added = suppression_added(
                    r.customer_id, channel, p.message.recipient, kind, "gridjourney.send", key
                )
                events.append(added)
            results.finished.append((r, failed, events))
        elif isinstance(answer, SendError):
            if getattr(answer, "maybe_accepted", False):
                results.maybe_accepted.append(r.idempotency_key)
            else:
                results.not_accepted.append(r.idempotency_key)
        else:
            sent = SendOutcome(status="sent", channel=channel, provider_message_id=answer.provider_message_id)
            results.finished.append(
                (r, sent, [outcome_event(r, sent, locale=p.locale, segments=answer.segments)])
            )
    return results
