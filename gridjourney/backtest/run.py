"""A backtest from the database: read the period's events (and what came before it that shapes the
customers), replay them through the journey (backtest/replay.py), and report."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest import queries
from gridjourney.backtest.cohort_replay import COHORT_STATE_EVENT_TYPES, CohortReplay
from gridjourney.backtest.customers import STATE_EVENT_TYPES
from gridjourney.backtest.replay import ALL_CHANNELS, Replay
from gridjourney.backtest.report import BacktestReport
from gridjourney.content.render import Templates
from gridjourney.dsl import registry
from gridjourney.dsl.schema import Channel, CompiledJourney
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.projections.consents import not_applied_in_log
from gridjourney.router.cohorts import cohort_listened_types
from gridjourney.router.matching import listened_event_types


class NotReplayable(ValueError):
    """The journey or the period cannot be backtested; the message says why."""


def check_replayable(journey: CompiledJourney) -> None:
    """Raises NotReplayable for a journey a backtest cannot replay (before any database work)."""
    definition = journey.definition
    if definition.mode == "cohort" and definition.cohort is None and definition.schedule is None:
        raise NotReplayable("a cohort journey without a `cohort` block is not replayed")


async def backtest(
    engine: AsyncEngine,
    journey: CompiledJourney,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    templates_dir: Path | None = None,
    channels: tuple[Channel, ...] = ALL_CHANNELS,
) -> BacktestReport:
    """The report of replaying [start, end), per customer or, for a cohort journey, per run
    (backtest/cohort_replay.py). Raises NotReplayable for an empty or reversed period (the report of
    a period without events has `events_in_range` 0).

    A published version (version > 0) is judged against the templates it pinned, as its sends
    render from them (content/render.py), whatever the folder holds now; `templates_dir` is for a
    version that pinned none, or a draft."""
    check_replayable(journey)
    if start.tzinfo is None or end.tzinfo is None:
        raise NotReplayable("give the period's bounds with a time zone")
    if end <= start:
        raise NotReplayable(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    templates: Templates | None = templates_dir
    if journey.version > 0:
        pinned = await registry.version_templates(engine, journey.journey_id, journey.version)
        templates = pinned if pinned is not None else templates_dir
    cohort = journey.definition.mode == "cohort"
    replay: Replay | CohortReplay
    try:
        if cohort:
            async with engine.connect() as conn:
                canonical = await queries.canonical_incidents(conn)
            replay = CohortReplay(
                journey,
                policy,
                start,
                end,
                templates_dir=templates,
                channels=channels,
                canonical_incidents=canonical,
            )
        else:
            replay = Replay(journey, policy, start, end, templates_dir=templates, channels=channels)
    except ValueError as error:
        raise NotReplayable(str(error)) from error
    triggers = {t.event for t in journey.definition.trigger}
    routed = triggers | (cohort_listened_types(journey) if cohort else listened_event_types(journey))
    state_types = fold_types = COHORT_STATE_EVENT_TYPES if cohort else STATE_EVENT_TYPES
    if isinstance(replay, Replay):  # what had() reads, from before the period too
        state_types = state_types | replay.history.event_types
    longest_cap = max((cap.per for rules in policy.purposes.values() for cap in rules.caps), default=None)
    store = EventStore(engine)
    async with engine.connect() as conn:
        # the consent changes that did not apply on arrival: the router routed none of them
        replay.not_applied = await not_applied_in_log(conn)
        replay.report.events_in_range = await queries.count_in_range(conn, start, end)
        if replay.report.events_in_range == 0 and journey.definition.schedule is None:
            return replay.report  # (a schedule still fires, over the customers the log made before)
        if longest_cap is not None:
            sends = await queries.other_journeys_sends(conn, journey.journey_id, start - longest_cap, end)
            for customer_id, at, purpose, channel in sends:
                replay.seed_send(customer_id, at, purpose, channel)
        moment: list[StoredEvent] = []  # the events that occurred at one time
        async for event in queries.replayed_events(conn, store, state_types, routed, start, end):
            if moment and event.occurred_at != moment[0].occurred_at:
                _replay_moment(replay, moment, fold_types, by_customer=not cohort)
                moment = []
            moment.append(event)
        _replay_moment(replay, moment, fold_types, by_customer=not cohort)
    return replay.finish()


def _replay_moment(
    replay: Replay | CohortReplay,
    moment: list[StoredEvent],
    fold_types: Collection[str],
    *,
    by_customer: bool,
) -> None:
    """The events of one moment, in log order; each routed one sees the events appended with it at
    that moment (Customers.fold_append)."""
    replay.customers.hold_moment(moment, fold_types, by_customer=by_customer)
    for event in moment:
        replay.feed(event)
