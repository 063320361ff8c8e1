"""What CohortWorkflow and its batch activities exchange (see DESIGN.md section 3, cohort mode).

A cohort run's members are rows of `cohort_members` (never workflow history). A member waits at a
step in a *track*: the group of members that arrived at that step together. A batch activity works
on the members of one track whose `member_no` lies in [lo, hi), and moves each member it is done with
to the track the workflow named for the step it goes on to. Members already moved are not in the
track any more, so a batch that is retried (after a crash, a timeout) picks up where it stopped.

Pure pydantic models, imported by the workflow: nothing here may do I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.workflows.contracts import Contract

# Activity names implemented outside the cohort engine.
SEND_COHORT_BATCH = "send_cohort_batch"  # activities/send_batch.py (send task queue)
DR_PERFORMANCE_BATCH = "dr_performance_batch"  # dr/activities.py


class MemberBatch(Contract):
    """The members of one track at one step, `member_no` in [lo, hi)."""

    run_id: str
    step_id: str
    track: str
    lo: int = Field(ge=0)
    hi: int = Field(ge=0)


class CohortSendInput(Contract):
    batch: MemberBatch
    journey_id: str
    version: int
    purpose: Purpose
    channels: list[Channel]
    template: str
    sending_hours: list[str] | None = Field(None, description="The step's windows, e.g. 09:00-18:00.")
    subject: dict[str, Any] = Field(description="The run's event as templates see it (`event.*`).")
    visit: int = Field(1, ge=1, description="Times the step has run in this run: part of the key.")
    next_step: str | None = Field(description="Where sent, suppressed and failed members go (None: end).")
    next_track: str | None = Field(description="Their track there (None with next_step None).")
    can_defer: bool = True
    stay: bool = Field(
        False,
        description="A notice to members waiting at a step (an `on_update` message): they stay in "
        "their track instead of moving to next_track.",
    )

    def idempotency_key(self, customer_id: str) -> str:
        """The member's send ledger key: the run, the step, its visit and the customer."""
        return f"{self.batch.run_id}:{self.batch.step_id}:{self.visit}:{customer_id}"


class BatchOutcome(Contract):
    """What one batch did. `counts`: members by outcome (sent, suppressed, failed, deferred, holdout,
    duplicate, waiting, …); `moved`: members moved on, by track."""

    processed: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    moved: dict[str, int] = Field(default_factory=dict)
    next_deferred_until: datetime | None = Field(
        None, description="The earliest moment a deferred member may be sent to (they stay in the track)."
    )


class DrPerformanceInput(Contract):
    batch: MemberBatch
    dr_event_id: str
    event_start: datetime
    event_end: datetime
    credit_per_kwh: float
    give_up: bool = Field(
        False, description="The wait for reads is over: members without reads go on without figures."
    )
    next_step: str | None
    next_track: str | None
