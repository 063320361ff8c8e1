"""Resolving a cohort run's audience into `cohort_members` (RESOLVE_AUDIENCE).

The sources select candidates in SQL (program enrolment from the `customer_programs` projection,
premises/transformers/feeders the event names); the `where` filter is the journey language's
expression over each candidate as the router sees a customer; a DR `target` ranks the rest by
expected reduction and keeps members until it reaches the event's kW; the holdout is a stable hash
of (run id, customer id). Everything is written in one transaction that first locks the run's row:
a retry after a crash either finds the run resolved (and returns its figures) or redoes it all, so
members are never written twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.cohorts import queries
from gridjourney.cohorts.queries import Candidate, NewMember, NewRun
from gridjourney.dr import queries as dr_queries
from gridjourney.dr.gather import READS_PER_DAY_AT_MOST, READS_PER_LOAD
from gridjourney.dr.like_days import BadLikeDayRule
from gridjourney.dr.target import (
    DEFAULT_DR_RESPONSE,
    Expectation,
    baseline_spans,
    pick_until_target,
    window_loads_kw,
)
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schema import AudienceSpec, TargetSpec
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import US
from gridjourney.metering.store import load_reads
from gridjourney.workflows.assignment import unit_interval
from gridjourney.workflows.cohort_contracts import AudienceOutcome, ResolveAudienceInput
from gridjourney.workflows.contracts import CustomerContext

READS_PER_HOUR_AT_MOST = READS_PER_DAY_AT_MOST // 24
# A run this large is analyzed once its members are in (audience_queries.refresh_member_statistics):
# its batches' statements are then planned on figures that know it. A small run's plans hardly matter.
ANALYZED_FROM = 1_000
MAX_GROUP_GROWTH = 4  # a group of hourly-read customers may be 4x one sized for 15-minute reads


class BadCohortInput(Exception):
    """The journey's audience cannot be resolved on this event (an expression that fails, a target
    that is not a number, a DR event without its window): retrying cannot help."""


async def resolve_audience(
    engine: AsyncEngine,
    request: ResolveAudienceInput,
    customers_per_load: int | None = None,
    holiday_calendar: str = US,
) -> AudienceOutcome:
    """The audience into cohort_members. Raises BadCohortInput after recording the run `failed` with
    the reason (cohort_runs.exit_reason). `customers_per_load`: see `expected_reductions`;
    `holiday_calendar`: the DR target's when the run's event names none (settings.holiday_calendar)."""
    try:
        outcome = await _resolve(engine, request, customers_per_load, holiday_calendar)
    except BadCohortInput as error:
        async with engine.begin() as conn:
            await queries.claim_run(conn, _new_run(request))
            await queries.set_run_status(conn, request.run_id, "failed", exit_reason=str(error), subject=None)
        raise
    if outcome.members >= ANALYZED_FROM:
        async with engine.begin() as conn:
            await queries.refresh_member_statistics(conn)
    return outcome


def _new_run(request: ResolveAudienceInput) -> NewRun:
    return NewRun(
        run_id=request.run_id,
        journey_id=request.journey_id,
        version=request.version,
        cohort_key=request.cohort_key,
        trigger_event_id=request.trigger_event_id,
        subject=request.subject,
    )


async def _resolve(
    engine: AsyncEngine, request: ResolveAudienceInput, customers_per_load: int | None, holiday_calendar: str
) -> AudienceOutcome:
    async with engine.begin() as conn:
        status, members, holdout = await queries.claim_run(conn, _new_run(request))
        if status != "resolving":  # resolved by an earlier attempt
            target, expected = await queries.run_figures(conn, request.run_id)
            return AudienceOutcome(members=members, holdout=holdout, target_kw=target, expected_kw=expected)
        audience = request.audience
        program, grid = audience_program(audience, request.subject), audience_grid(audience, request.subject)
        no_target = audience.target is None or _target_kw(audience.target, request.subject) is None
        if audience.where is None and no_target:  # all in SQL: 100,000 in a few seconds
            count, held = await queries.insert_audience(
                conn,
                request.run_id,
                program=program,
                grid=grid,
                holdout=audience.holdout,
                step_id=request.first_step,
                track=request.track,
            )
            await queries.mark_resolved(
                conn, request.run_id, members=count, holdout=held, target_kw=None, expected_kw=None
            )
            return AudienceOutcome(members=count, holdout=held)
        candidates = await queries.audience_candidates(conn, program=program, grid=grid)
        if audience.where is not None:
            candidates = [
                candidate
                for candidate in candidates
                if audience_holds(audience.where, _namespace(candidate, request))
            ]
        picked = [_member(candidate, request.run_id, audience.holdout) for candidate in candidates]
        target_kw: float | None = None
        expected_kw: float | None = None
        if audience.target is not None:
            target_kw = _target_kw(audience.target, request.subject)
        if audience.target is not None and target_kw is not None:  # no target: the whole audience
            expectations = await expected_reductions(
                engine, candidates, request.subject, customers_per_load, holiday_calendar
            )
            picked, expected_kw = pick_until_target(picked, expectations, audience.target, target_kw)
        await queries.insert_members(conn, request.run_id, picked, request.first_step, request.track)
        held = sum(member.holdout for member in picked)
        await queries.mark_resolved(
            conn,
            request.run_id,
            members=len(picked),
            holdout=held,
            target_kw=target_kw,
            expected_kw=expected_kw,
        )
    return AudienceOutcome(members=len(picked), holdout=held, target_kw=target_kw, expected_kw=expected_kw)


async def audience_members(conn: AsyncConnection, request: ResolveAudienceInput) -> list[NewMember]:
    """The audience's members on `request.subject` by its sources, `where` and holdout, without a
    target: the customers a later event of a running run names (cohorts/joining.py)."""
    audience = request.audience
    program, grid = audience_program(audience, request.subject), audience_grid(audience, request.subject)
    candidates = await queries.audience_candidates(conn, program=program, grid=grid)
    if audience.where is not None:
        candidates = [c for c in candidates if audience_holds(audience.where, _namespace(c, request))]
    return [_member(candidate, request.run_id, audience.holdout) for candidate in candidates]


def audience_program(audience: AudienceSpec, subject: dict[str, Any]) -> str | None:
    if audience.program is None:
        return None
    try:
        return str(evaluate(audience.program, {"event": subject}))
    except ExpressionError as error:
        raise BadCohortInput(f"audience.program {audience.program!r}: {error}") from error


def audience_grid(
    audience: AudienceSpec, subject: dict[str, Any]
) -> tuple[list[str], list[str], list[str]] | None:
    if not audience.grid:
        return None
    return (
        [str(v) for v in subject.get("premise_ids") or []],
        [str(v) for v in subject.get("transformer_ids") or []],
        [str(v) for v in subject.get("feeder_ids") or []],
    )


def _namespace(candidate: Candidate, request: ResolveAudienceInput) -> dict[str, Any]:
    """As the router's trigger conditions see a customer (router/queries.py customer_namespace)."""
    customer = CustomerContext(
        customer_id=candidate.customer_id,
        name=candidate.name,
        locale=candidate.locale,
        time_zone=candidate.time_zone,
        attributes=candidate.attributes,
    ).namespace()
    return {
        "event": request.subject,
        "customer": customer,
        "journey": {"id": request.journey_id, "version": request.version},
    }


def audience_holds(expression: str, namespace: dict[str, Any]) -> bool:
    try:
        return bool(evaluate(expression, namespace))
    except ExpressionError:  # a field the customer lacks: not in the audience (as in branches)
        return False


def _member(candidate: Candidate, run_id: str, holdout: float) -> NewMember:
    segment = candidate.attributes.get("segment")
    return NewMember(
        customer_id=candidate.customer_id,
        premise_id=candidate.premise_id,
        transformer_id=candidate.transformer_id,
        feeder_id=candidate.feeder_id,
        segment=None if segment is None else str(segment),
        holdout=held_out(run_id, candidate.customer_id, holdout),
        expected_kw=None,
    )


def held_out(run_id: str, customer_id: str, fraction: float) -> bool:
    """Whether the member is in the run's holdout (`_in_holdout` in audience_queries.py is its SQL)."""
    return fraction > 0 and unit_interval("holdout", run_id, customer_id) < fraction


def _target_kw(target: TargetSpec, subject: dict[str, Any]) -> float | None:
    try:
        value = evaluate(target.kw, {"event": subject})
    except ExpressionError:  # the event gives no target: everyone is notified
        return None
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise BadCohortInput(f"audience.target.kw {target.kw!r} is {value!r}, not a number") from error


# --- the DR target (the expected reduction is dr/target.py's) ----------------------------------------
async def expected_reductions(
    engine: AsyncEngine,
    candidates: list[Candidate],
    subject: dict[str, Any],
    customers_per_load: int | None = None,
    holiday_calendar: str = US,
) -> dict[str, Expectation]:
    """Each candidate's DR-response propensity and expected kW shed over the event window, computed a
    group of customers at a time (a customer's baseline depends on their reads only), so that memory
    stays bounded at any audience size, reading only the lookback's event hours (`baseline_spans`).
    `customers_per_load`: the group (default: as many as keep at most about READS_PER_LOAD reads in
    memory)."""
    try:
        start = datetime.fromisoformat(str(subject["start"]))
        end = datetime.fromisoformat(str(subject["end"]))
    except (KeyError, ValueError) as error:
        raise BadCohortInput("a DR target needs the event's start and end as times") from error
    try:
        async with engine.connect() as conn:
            rule = await dr_queries.like_day_rule(conn, _event_id(subject), subject, holiday_calendar)
    except BadLikeDayRule as error:
        raise BadCohortInput(str(error)) from error
    since = start - timedelta(days=MAX_LOOKBACK_DAYS + 1)
    spans = baseline_spans(start, end, {candidate.time_zone for candidate in candidates})
    span_hours = sum((high - low).total_seconds() for low, high in spans) / 3600
    # Groups are sized for 15-minute reads, then by the most reads per customer met so far (hourly
    # reads: four times the customers). Memory stays within READS_PER_LOAD reads, or at worst
    # MAX_GROUP_GROWTH times that when 15-minute readers come after hourly ones.
    worst = max(1, int(READS_PER_LOAD // (span_hours * READS_PER_HOUR_AT_MOST)))
    group = customers_per_load or worst
    loads: dict[str, float] = {}
    offset = 0
    densest = 0.0  # the most reads per customer of any group so far
    while offset < len(candidates):
        part = candidates[offset : offset + group]
        offset += len(part)
        reads = await load_reads(
            engine,
            customer_ids=[candidate.customer_id for candidate in part],
            start=since,
            end=start,
            within=spans,
        )
        loads |= window_loads_kw(reads, start, end, {c.customer_id: c.time_zone for c in part}, rule)
        densest = max(densest, len(reads) / len(part))
        if customers_per_load is None and densest > 0:
            group = max(worst, min(MAX_GROUP_GROWTH * worst, int(READS_PER_LOAD // densest)))
        del reads  # before the next group's reads arrive
    expectations: dict[str, Expectation] = {}
    for candidate in candidates:
        scores = candidate.attributes.get("scores") or {}
        response = scores.get("dr_response") if isinstance(scores, dict) else None
        expectations[candidate.customer_id] = Expectation(
            dr_response=DEFAULT_DR_RESPONSE if response is None else float(response),
            shed_kw=loads.get(candidate.customer_id, 0.0),
        )
    return expectations


def _event_id(subject: dict[str, Any]) -> str | None:
    event_id = subject.get("dr_event_id")
    return None if event_id is None else str(event_id)
