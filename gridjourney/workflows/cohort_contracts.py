"""What CohortWorkflow and its batch activities exchange (see DESIGN.md section 3, cohort mode).

A cohort run's members are rows of `cohort_members` (never workflow history). A member waits at a
step in a *track*: the group of members that arrived at that step together. A batch activity works
on the members of one track whose `member_no` lies in [lo, hi), and moves each member it is done with
to the track the workflow named for the step it goes on to. Members already moved are not in the
track any more, so a batch that is retried (after a crash, a timeout) picks up where it stopped.

Pure pydantic models, imported by the workflow: nothing here may do I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from gridjourney.dsl.schema import (
    AudienceSpec,
    BranchStep,
    Channel,
    CompiledJourney,
    Purpose,
    ScoreSpec,
    SplitStep,
    UpdateSpec,
)
from gridjourney.workflows.contracts import Contract, EventRef

# Activity names implemented outside the cohort engine.
SEND_COHORT_BATCH = "send_cohort_batch"  # activities/send_batch.py (send task queue)
DR_PERFORMANCE_BATCH = "dr_performance_batch"  # dr/activities.py

LEDGER_KEY_LENGTH = 300  # send_ledger.idempotency_key is String(300)


class MemberBatch(Contract):
    """The members of one track at one step, `member_no` in [lo, hi)."""

    run_id: str
    step_id: str
    track: str
    lo: int = Field(ge=0)
    hi: int = Field(ge=0)
    told: bool | None = Field(
        None,
        description="Only the members a message of the run was sent to (True), or only those none was "
        "(False); None: every member. An `on_update` notice tells a change to those told of the event.",
    )


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
        """The member's send ledger key: the run, the step, its visit and the customer; a digest of
        that when it would not fit the ledger's String(300) (long journey, step and customer ids)."""
        key = f"{self.batch.run_id}:{self.batch.step_id}:{self.visit}:{customer_id}"
        if len(key) <= LEDGER_KEY_LENGTH:
            return key
        return "cohort-sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


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


# --- the cohort engine's own activities (gridjourney/cohorts/activities.py) -------------------------
RESOLVE_AUDIENCE = "resolve_cohort_audience"
PARTITION_BATCH = "partition_cohort_batch"
MATCH_EVENT = "match_cohort_event"
MOVE_TRACK = "move_cohort_track"
UPDATE_BATCH = "update_cohort_batch"
SCORE_BATCH = "score_cohort_batch"
RECORD_RUN = "record_cohort_run"
COUNT_TRACKS = "count_cohort_tracks"
# A triggering event that reached the running run of its key (a second outage report merged into the
# incident): the customers it names who are not members yet join the run. Input ResolveAudienceInput
# (the joining event as subject, the new members' track), result their TrackSpan.
ADD_MEMBERS = "add_cohort_members"

# Query of CohortWorkflow (its signal is workflows/contracts.py JOURNEY_EVENT_SIGNAL, with an EventRef).
COHORT_STATE_QUERY = "cohort_state"


class ParkedTrack(Contract):
    """A track waiting at a wait or wait_for step, as a run continued as new resumes it."""

    step_id: str
    visits: dict[str, int]
    started: datetime | None = Field(None, description="wait: when the wait began.")
    deadline: datetime | None = Field(None, description="wait_for: when it times out.")
    read: int = Field(0, description="wait_for: the number of the next event it reads.")


class CohortInput(Contract):
    journey: CompiledJourney
    cohort_key: str
    trigger: EventRef
    send_task_queue: str = Field(description="Task queue of SEND_COHORT_BATCH (rate-limited send workers).")
    batch_size: int = Field(500, ge=1, description="settings.cohort_batch_size at start.")
    concurrency: int = Field(8, ge=1, description="settings.cohort_concurrency: batch activities at once.")
    events_kept: int = Field(
        1000, ge=1, description="wait_for events kept for tracks that reach their wait_for later."
    )
    continue_after: int | None = Field(
        None,
        ge=1,
        description="Continue as new once the history has this many events (tests; Temporal's "
        "suggestion does it otherwise).",
    )
    carried: CohortCarry | None = Field(None, description="The state of the run this one continues.")


class TrackState(Contract):
    step_id: str
    members: int = Field(description="Members known to wait in the track (as batches reported).")


class CohortState(Contract):
    """Returned by the `cohort_state` query."""

    status: Literal["resolving", "running", "completed", "exited", "failed"] = "resolving"
    members: int = 0
    holdout: int = 0
    exit_reason: str | None = None
    tracks: dict[str, TrackState] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict, description="Batch outcomes summed over the run.")

    def per_step(self) -> dict[str, int]:
        """Members waiting at each step."""
        waiting: dict[str, int] = {}
        for track in self.tracks.values():
            if track.members > 0:
                waiting[track.step_id] = waiting.get(track.step_id, 0) + track.members
        return waiting


class ResolveAudienceInput(Contract):
    run_id: str
    journey_id: str
    version: int
    cohort_key: str
    trigger_event_id: str
    audience: AudienceSpec
    subject: dict[str, Any]
    first_step: str
    track: str = Field(description="The track every member starts in, at first_step.")


class AudienceOutcome(Contract):
    members: int
    holdout: int
    target_kw: float | None = None
    expected_kw: float | None = Field(None, description="Expected reduction of the treated members.")


class PartitionInput(Contract):
    """A branch or split step over one batch: each member goes to the track of the case it takes."""

    batch: MemberBatch
    journey_id: str
    step: BranchStep | SplitStep
    subject: dict[str, Any]
    tracks: dict[str, str] = Field(description="goto → the track its members form (goto `end`: absent).")
    otherwise_step: str | None = Field(description="A branch where no case holds: the step after it.")
    otherwise_track: str | None


class MatchEventInput(Contract):
    """A wait_for event: the members of the track the event names (all when it names none) go on."""

    run_id: str
    track: str
    premise_ids: list[str] = Field(default_factory=list)
    transformer_ids: list[str] = Field(default_factory=list)
    feeder_ids: list[str] = Field(default_factory=list)
    next_step: str | None
    next_track: str | None
    left_reason: str = "completed"


class MoveTrackInput(Contract):
    run_id: str
    track: str
    next_step: str | None
    next_track: str | None
    left_reason: str = "completed"


class UpdateBatchInput(Contract):
    batch: MemberBatch
    journey_id: str
    version: int
    spec: UpdateSpec
    subject: dict[str, Any]
    visit: int = 1
    occurred_at: datetime
    next_step: str | None
    next_track: str | None


class ScoreBatchInput(Contract):
    batch: MemberBatch
    spec: ScoreSpec
    visit: int = 1
    occurred_at: datetime
    next_step: str | None
    next_track: str | None


class RecordRunInput(Contract):
    """The run's status; `exited` also lets every member still waiting leave with the reason;
    `failed` (its input cannot be worked on) carries the reason in exit_reason."""

    run_id: str
    status: Literal["running", "completed", "exited", "failed"]
    exit_reason: str | None = None
    subject: dict[str, Any] | None = None


class TrackSpan(Contract):
    """The members waiting in a track and the member_no range they occupy ([lo, hi); 0, 0 when
    empty): a new track's batches cover its own members, not its parent's whole range."""

    members: int = 0
    lo: int = 0
    hi: int = 0


class CountTracksInput(Contract):
    """How many members wait in each of these tracks: batches report what they moved, but a batch
    retried after a crash cannot report what its lost attempt moved, so the workflow counts."""

    run_id: str
    tracks: list[str]


class CohortCarry(Contract):
    """What a run continued as new goes on from: taken when every track waits at a wait or wait_for
    step and nothing is in flight (workflows/cohort.py)."""

    subject: dict[str, Any]
    subject_version: int
    seen: list[str]
    events: list[EventRef]
    events_dropped: int
    state: CohortState
    tracks_made: int
    track_steps: dict[str, str]
    spans: dict[str, tuple[int, int]]
    since: dict[str, int]
    parked: dict[str, ParkedTrack]
    notices_sent: dict[str, int]
    notice_at: dict[int, datetime]
    notice_value: dict[int, Any]
    notice_fields: dict[int, dict[str, Any]]
    first_shown: dict[str, Any] | None


CohortInput.model_rebuild()
