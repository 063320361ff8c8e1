"""What a cohort batch attempt did so far (activities/send_batch.py): its counts, the tracks it moved
members to, and the heartbeat details a retried attempt carries on from."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, Field

from gridjourney.workflows.cohort_contracts import BatchOutcome

# Counts of members left where they are: recounted by each attempt, never carried over.
LEFT_COUNTS = ("deferred", "in_progress", "held", "retrying")


class BatchProgress(BaseModel):
    """A batch attempt's heartbeat details: its counts so far, and the last member it finished."""

    outcome: BatchOutcome
    done_through: int = Field(-1, description="member_no of the last member of the last finished chunk")
    left: list[int] = Field(
        default_factory=list, description="member_no of members left to the retry (another attempt held them)"
    )


class Tally:
    """What the batch did so far, carried over from the last attempt's heartbeat."""

    def __init__(self, resumed: BatchProgress | None) -> None:
        self.counts: dict[str, int] = {}
        self.moved: dict[str, int] = {}
        self.next_deferred_until: datetime | None = None
        # Members up to here were counted by an earlier attempt (a `stay` batch sees them again).
        self.done_through = -1
        self.numbers: dict[str, int] = {}  # customer id → member_no, of the chunks seen
        self._left: set[int] = set()
        self._resumed_left: frozenset[int] = frozenset()
        if resumed is not None:
            self.counts = {k: v for k, v in resumed.outcome.counts.items() if k not in LEFT_COUNTS}
            self.moved = dict(resumed.outcome.moved)
            self.done_through = resumed.done_through
            self._resumed_left = frozenset(resumed.left)
        self._resumed_through = self.done_through
        # The heartbeat's details: the progress as of the last finished chunk (done_through and the
        # counts agree), never counts of a chunk under way that a retry would count again.
        self.checkpoint = self.progress()

    def take_checkpoint(self) -> None:
        self.checkpoint = self.progress()

    def new(self, member_no: int) -> bool:
        """Not counted by an earlier attempt: past its last chunk, or left by it to this retry."""
        return member_no > self._resumed_through or member_no in self._resumed_left

    def left_to_retry(self, customer_ids: Collection[str]) -> None:
        """Members another attempt held (`in_progress`): the retry counts them, even as duplicates."""
        self.count("in_progress", len(customer_ids))
        self._left.update(self.numbers[c] for c in customer_ids)

    def count(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    def deferred(self, until: datetime) -> None:
        self.count("deferred", 1)
        if self.next_deferred_until is None or until < self.next_deferred_until:
            self.next_deferred_until = until

    def outcome(self) -> BatchOutcome:
        counts = {k: v for k, v in self.counts.items() if k != "retrying"}
        processed = sum(v for k, v in counts.items() if k not in LEFT_COUNTS)
        return BatchOutcome(
            processed=processed,
            counts=counts,
            moved=dict(self.moved),
            next_deferred_until=self.next_deferred_until,
        )

    def progress(self) -> BatchProgress:
        return BatchProgress(outcome=self.outcome(), done_through=self.done_through, left=sorted(self._left))
