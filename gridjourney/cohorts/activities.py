"""The cohort engine's activities: the audience (and members joining a running run), branch/split
partitions, wait_for matches, moves, batched update and score steps, and the run's status. Sending
is C's SEND_COHORT_BATCH (activities/send_batch.py), DR performance F's DR_PERFORMANCE_BATCH
(dr/activities.py).

Batch activities move each member when done with it, so a retried batch finds only what is left;
update and score steps append events under ids derived from (run, step, visit, member), so a member
done twice (a crash between the event and the move) appends nothing the second time.

Register the bound methods of `CohortActivities(engine, scoring).all` on the main task queue.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gridjourney.activities.customers import update_customer
from gridjourney.activities.scores import Scoring
from gridjourney.cohorts import queries
from gridjourney.cohorts.audience import BadCohortInput, audience_members, resolve_audience
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schema import SCORE_MODELS, BranchStep
from gridjourney.events.store import EventStore
from gridjourney.metering.holidays import US
from gridjourney.projections.queries import CustomerView, get_customers
from gridjourney.workflows.cohort_contracts import (
    ADD_MEMBERS,
    COUNT_TRACKS,
    MATCH_EVENT,
    MOVE_TRACK,
    PARTITION_BATCH,
    RECORD_RUN,
    RESOLVE_AUDIENCE,
    SCORE_BATCH,
    UPDATE_BATCH,
    AudienceOutcome,
    BatchOutcome,
    CountTracksInput,
    MatchEventInput,
    MemberBatch,
    MoveTrackInput,
    PartitionInput,
    RecordRunInput,
    ResolveAudienceInput,
    ScoreBatchInput,
    TrackSpan,
    UpdateBatchInput,
)
from gridjourney.workflows.contracts import CustomerContext, ScoreCustomerInput, UpdateCustomerInput
from gridjourney.workflows.decisions import EVENT_ID_NAMESPACE, choose_branch, choose_split

END_OF_RUN = queries.FINISHED  # left_reason of members who reach the end


def member_event_id(run_id: str, step_id: str, visit: int, customer_id: str) -> str:
    """The id of the event a step appends for one member: one per (run, step, visit, member)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{run_id}:{step_id}:{visit}:{customer_id}"))


def customer_namespace(view: CustomerView | None) -> dict[str, Any]:
    """`customer` in a member's expressions, as the router's conditions see it (empty: unknown)."""
    if view is None:
        return {}
    return CustomerContext(
        customer_id=view.customer_id,
        name=view.name,
        locale=view.locale,
        time_zone=view.time_zone,
        attributes=view.attributes,
    ).namespace()


def _heartbeat(*details: Any) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


@dataclass
class CohortActivities:
    engine: AsyncEngine
    scoring: Scoring
    holiday_calendar: str = US  # settings.holiday_calendar: a DR target's like days
    store: EventStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = EventStore(self.engine)

    @activity.defn(name=RESOLVE_AUDIENCE)
    async def resolve_audience(self, request: ResolveAudienceInput) -> AudienceOutcome:
        try:
            return await resolve_audience(self.engine, request, holiday_calendar=self.holiday_calendar)
        except BadCohortInput as error:  # recorded as the run's failure; a retry would fail the same
            raise ApplicationError(str(error), type="BadCohortInput", non_retryable=True) from error

    @activity.defn(name=ADD_MEMBERS)
    async def add_members(self, request: ResolveAudienceInput) -> TrackSpan:
        """The customers a later triggering event names (request.subject) who are not members yet
        join the run at its first step, in request.track.

        Only an audience of places grows (a later outage report names more premises). A program's
        audience is the run's from its start, a DR target's pick included: the same DR event sent
        again under a new event id, or naming another program, adds no one."""
        if not request.audience.grid:
            return TrackSpan()
        try:
            async with self.engine.begin() as conn:
                members = await audience_members(conn, request)
                return await queries.add_members(
                    conn, request.run_id, members, request.first_step, request.track
                )
        except BadCohortInput as error:  # an audience expression failing on this event: no one joins
            raise ApplicationError(str(error), type="BadCohortInput", non_retryable=True) from error

    @activity.defn(name=PARTITION_BATCH)
    async def partition_batch(self, request: PartitionInput) -> BatchOutcome:
        """Each member of the batch to the track of the branch case or split arm it takes."""
        async with self.engine.connect() as conn:
            members = await queries.batch_members(conn, request.batch)
            customers = (
                await get_customers(conn, [m.customer_id for m in members])
                if isinstance(request.step, BranchStep)
                else {}
            )
        chosen: dict[str | None, list[str]] = defaultdict(list)
        journey = {"id": request.journey_id}
        for member in members:
            if isinstance(request.step, BranchStep):
                customer = customer_namespace(customers.get(member.customer_id))
                namespace = {"event": request.subject, "customer": customer, "journey": journey}
                goto = choose_branch(request.step, namespace)
            else:
                goto = choose_split(request.step, request.journey_id, member.customer_id).goto
            chosen[goto].append(member.customer_id)
        outcome = BatchOutcome(processed=len(members))
        async with self.engine.begin() as conn:
            for goto, customer_ids in chosen.items():
                if goto is None:
                    step, track = request.otherwise_step, request.otherwise_track
                else:
                    track = request.tracks.get(goto)
                    step = goto if track is not None else None
                await queries.move_members(
                    conn,
                    request.batch.run_id,
                    customer_ids,
                    step,
                    track,
                    END_OF_RUN,
                    from_track=request.batch.track,
                )
                outcome.counts[goto or "no_case"] = len(customer_ids)
                if track is not None:
                    outcome.moved[track] = outcome.moved.get(track, 0) + len(customer_ids)
        return outcome

    @activity.defn(name=MATCH_EVENT)
    async def match_event(self, request: MatchEventInput) -> TrackSpan:
        named = request.premise_ids or request.transformer_ids or request.feeder_ids
        grid = (request.premise_ids, request.transformer_ids, request.feeder_ids) if named else None
        async with self.engine.begin() as conn:
            return await queries.move_track(
                conn,
                request.run_id,
                request.track,
                request.next_step,
                request.next_track,
                left_reason=request.left_reason,
                grid=grid,
            )

    @activity.defn(name=MOVE_TRACK)
    async def move_track(self, request: MoveTrackInput) -> int:
        async with self.engine.begin() as conn:
            span = await queries.move_track(
                conn,
                request.run_id,
                request.track,
                request.next_step,
                request.next_track,
                left_reason=request.left_reason,
            )
        return span.members

    @activity.defn(name=UPDATE_BATCH)
    async def update_batch(self, request: UpdateBatchInput) -> BatchOutcome:
        """The `update` step per member, through the per-customer UPDATE_CUSTOMER code."""
        batch, spec = request.batch, request.spec
        async with self.engine.connect() as conn:
            members = await queries.batch_members(conn, batch)
            customers = await get_customers(conn, [m.customer_id for m in members]) if spec.expression else {}
        outcome = BatchOutcome(processed=len(members))
        done: list[str] = []
        for member in members:
            value: Any = spec.value
            if spec.expression is not None:
                namespace = {
                    "event": request.subject,
                    "customer": customer_namespace(customers.get(member.customer_id)),
                    "journey": {"id": request.journey_id, "version": request.version},
                }
                try:
                    value = evaluate(spec.expression, namespace)
                except ExpressionError:  # as per customer: keep the attribute rather than write a wrong value
                    outcome.counts["skipped"] = outcome.counts.get("skipped", 0) + 1
                    done.append(member.customer_id)
                    continue
            await update_customer(
                self.store,
                UpdateCustomerInput(
                    event_id=member_event_id(batch.run_id, batch.step_id, request.visit, member.customer_id),
                    customer_id=member.customer_id,
                    attribute=spec.attribute,
                    value=value,
                    occurred_at=request.occurred_at,
                ),
            )
            outcome.counts["updated"] = outcome.counts.get("updated", 0) + 1
            done.append(member.customer_id)
            _heartbeat(len(done))
        await self._move_on(batch, done, request.next_step, request.next_track, outcome)
        return outcome

    @activity.defn(name=SCORE_BATCH)
    async def score_batch(self, request: ScoreBatchInput) -> BatchOutcome:
        """The `score` step per member, through the per-customer SCORE_CUSTOMER code."""
        batch, spec = request.batch, request.spec
        async with self.engine.connect() as conn:
            members = await queries.batch_members(conn, batch)
        outcome = BatchOutcome(processed=len(members))
        model = SCORE_MODELS.get(spec.model)
        done: list[str] = []
        for member in members:
            if model is None:  # the compiler refuses unknown scores; a run never stalls on one
                status = "skipped"
            else:
                scored = await self.scoring.score(
                    ScoreCustomerInput(
                        event_id=member_event_id(
                            batch.run_id, batch.step_id, request.visit, member.customer_id
                        ),
                        customer_id=member.customer_id,
                        score=spec.model,
                        model=model,
                        version=spec.version,
                        max_age=spec.max_age,
                        occurred_at=request.occurred_at,
                    )
                )
                status = scored.status
            outcome.counts[status] = outcome.counts.get(status, 0) + 1
            done.append(member.customer_id)
            _heartbeat(len(done))
        await self._move_on(batch, done, request.next_step, request.next_track, outcome)
        return outcome

    @activity.defn(name=COUNT_TRACKS)
    async def count_tracks(self, request: CountTracksInput) -> dict[str, TrackSpan]:
        async with self.engine.connect() as conn:
            return await queries.track_spans(conn, request.run_id, request.tracks)

    @activity.defn(name=RECORD_RUN)
    async def record_run(self, request: RecordRunInput) -> None:
        async with self.engine.begin() as conn:
            if request.status == "exited":
                await queries.release_all(conn, request.run_id, request.exit_reason or "exited")
            await queries.set_run_status(
                conn, request.run_id, request.status, exit_reason=request.exit_reason, subject=request.subject
            )

    async def _move_on(
        self,
        batch: MemberBatch,
        customer_ids: list[str],
        next_step: str | None,
        next_track: str | None,
        outcome: BatchOutcome,
    ) -> None:
        async with self.engine.begin() as conn:
            moved = await queries.move_members(
                conn, batch.run_id, customer_ids, next_step, next_track, END_OF_RUN, from_track=batch.track
            )
        if next_track is not None and moved:
            outcome.moved[next_track] = moved

    @property
    def all(self) -> list[Callable[..., Any]]:
        return [
            self.resolve_audience,
            self.add_members,
            self.partition_batch,
            self.match_event,
            self.move_track,
            self.update_batch,
            self.score_batch,
            self.record_run,
            self.count_tracks,
        ]
