"""What a journey's send carries besides the message: the run's journey events appended in the
outcome's own transaction, and the customer its entry's context load read already.

A plain journey's first and only send used to make three appends: the carried `journey.entered` first,
then `message.sent` with the ledger row, then `journey.step_completed` and `journey.exited`. Each append
takes the log's lock, reads the customer's key and wakes every subscription (the projections fold it,
the router reads it). Here they are one append, in log order: the carried events, the outcome's,
then the end's (with the step's outcome filled in). A deferral appends the carried events with its
`message.deferred`.

The carry is set for the duration of one `MessageSending.send` (a context variable: each activity
runs in a task of its own, and the cohort path never sets one). Whatever did not ride on an outcome's
transaction (a duplicate answered from the ledger, an attempt that failed) the activity appends on its
own, as before: the events' ids make a second append of the same event a no-op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from gridjourney.activities.context import CustomerRecord
from gridjourney.activities.journey_events import journey_new_events
from gridjourney.events.models import NewEvent
from gridjourney.workflows.contracts import RecordJourneyEventInput, SendOutcome, with_step_outcome


@dataclass
class JourneyCarry:
    """`before`: the input's journey_events; `after`: its recorded_after (the last step's completion
    and the exit, appended only after a final outcome); `customer`: read by the entry's context load."""

    before: list[RecordJourneyEventInput] = field(default_factory=list)
    after: list[RecordJourneyEventInput] = field(default_factory=list)
    customer: CustomerRecord | None = None
    before_appended: bool = False
    after_appended: bool = False

    def around(self, outcome: SendOutcome, events: list[NewEvent]) -> list[NewEvent]:
        """`events` (the outcome's) with what is still carried before and after them."""
        before = [] if self.before_appended else journey_new_events(self.before)
        after: list[NewEvent] = []
        if self.after and not self.after_appended and outcome.status != "deferred":
            after = journey_new_events(with_step_outcome(self.after, outcome.step_outcome))
        return [*before, *events, *after]

    def appended(self, outcome: SendOutcome) -> None:
        """The events `around` gave for `outcome` are committed."""
        self.before_appended = True
        self.after_appended = self.after_appended or outcome.status != "deferred"


_CARRY: ContextVar[JourneyCarry | None] = ContextVar("journey_carry", default=None)


def current_carry() -> JourneyCarry | None:
    return _CARRY.get()


@contextlib.contextmanager
def carrying(carry: JourneyCarry) -> Iterator[JourneyCarry]:
    token = _CARRY.set(carry)
    try:
        yield carry
    finally:
        _CARRY.reset(token)
