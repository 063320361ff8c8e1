"""Every SQL statement on `cohort_members`: the members of a track over a member_no range, their moves
and deferrals, members joining a running run, and where members are.

A member waits at a step in a track (workflows/cohort_contracts.py); batch activities read the
members of one track over a range of `member_no` and move each one on when they are done with it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import cohort_members, cohort_runs, events
from gridjourney.workflows.cohort_contracts import MemberBatch, TrackSpan

# left_reason of a member who finished the journey (its last step moved it on to no step); exits and
# a run's release use the event type or reason instead.
FINISHED = "completed"


@dataclass(frozen=True)
class Member:
    """One member of a cohort run as a batch activity works on it."""

    customer_id: str
    member_no: int
    premise_id: str | None
    transformer_id: str | None
    feeder_id: str | None
    segment: str | None
    holdout: bool
    expected_kw: float | None
    deferred_until: datetime | None


# The columns batch_members reads, in Member's field order: a member is built from its row by position
# (a few us a member less than by name, for every member of every batch).
_MEMBER_COLUMNS = tuple(cohort_members.c[f.name] for f in fields(Member))


async def batch_members(conn: AsyncConnection, batch: MemberBatch) -> list[Member]:
    """The members of `batch.track` with member_no in [lo, hi), in order, not yet finished.

    A track waits at one step, so the track alone names its members: `batch.step_id` is the step
    for ledger keys and records (an `on_update` notice passes `{event type}#{n}` there)."""
    c = cohort_members.c
    query = select(*_MEMBER_COLUMNS).where(
        c.run_id == batch.run_id,
        c.track == batch.track,
        c.step_id.is_not(None),
        c.member_no >= batch.lo,
        c.member_no < batch.hi,
    )
    if batch.told is not None:
        # told: a message of the run was sent to them (its message.sent, on ix_events_customer_position)
        told = (
            select(events.c.position)
            .where(
                events.c.customer_id == c.customer_id,
                events.c.type == "message.sent",
                events.c.payload["instance_id"].astext == batch.run_id,
            )
            .exists()
        )
        query = query.where(told if batch.told else ~told)
    rows = (await conn.execute(query.order_by(c.member_no))).all()
    return [Member(*row) for row in rows]  # by position: _MEMBER_COLUMNS are Member's fields, in order


def _still_waiting(run_id: str, from_track: str, customer_ids: Collection[str]) -> ColumnElement[bool]:
    """The members of `customer_ids` still waiting in `from_track`: a late batch attempt touches no
    one who has moved on or been released."""
    c = cohort_members.c
    return and_(
        c.run_id == run_id,
        c.track == from_track,
        c.step_id.is_not(None),
        any_of(c.customer_id, customer_ids),
    )


async def move_members(
    conn: AsyncConnection,
    run_id: str,
    customer_ids: Collection[str],
    step_id: str | None,
    track: str | None,
    left_reason: str | None = None,
    *,
    from_track: str,
) -> int:
    """Move the members to `step_id` in `track` (step None: they have finished, for `left_reason`).
    Only members still waiting in `from_track` (the track the caller works on) move: a late batch
    attempt (after an exit released them, or a retry after they went on) moves nobody it no longer
    owns. A move clears any deferral; a member who finishes keeps `from_track` (a track's name is
    never reused: a retried batch finds whom it finished, batch_members_and_moved_on). Returns how
    many moved."""
    if not customer_ids:
        return 0
    result = await conn.execute(
        update(cohort_members)
        .where(_still_waiting(run_id, from_track, customer_ids))
        .values(
            step_id=step_id,
            track=track if step_id is not None else from_track,
            deferred_until=None,
            left_reason=left_reason if step_id is None else None,
            updated_at=func.now(),
        )
    )
    return result.rowcount or 0


async def batch_members_and_moved_on(
    conn: AsyncConnection, batch: MemberBatch, next_track: str | None, *, since: datetime | None = None
) -> tuple[list[Member], list[Member]]:
    """For a retried batch that moves its members on: the members still waiting (batch_members), and
    those of its range a batch over it already moved on (an earlier attempt, whose counts died with
    it): now in `next_track` (a fresh track, not started before the step ends), or with `next_track`
    None finished from `batch.track` (since `since`: a send step that deferred members asks its track
    again later, and whom an earlier round finished is not this batch's). One statement, one
    snapshot: a member an earlier attempt still alive moves meanwhile is in exactly one of the two."""
    c = cohort_members.c
    waiting = and_(c.track == batch.track, c.step_id.is_not(None))
    if next_track is not None:
        moved_on = and_(c.track == next_track, c.step_id.is_not(None))
    else:
        moved_on = and_(c.track == batch.track, c.step_id.is_(None), c.left_reason == FINISHED)
        if since is not None:
            moved_on = and_(moved_on, c.updated_at >= since)
    query = select(*_MEMBER_COLUMNS, waiting.label("waiting")).where(
        c.run_id == batch.run_id, c.member_no >= batch.lo, c.member_no < batch.hi, or_(waiting, moved_on)
    )
    rows = (await conn.execute(query.order_by(c.member_no))).all()
    members = [Member(*row[:-1]) for row in rows]
    return (
        [m for m, row in zip(members, rows, strict=True) if row[-1]],
        [m for m, row in zip(members, rows, strict=True) if not row[-1]],
    )


async def defer_members(
    conn: AsyncConnection,
    run_id: str,
    customer_ids: Collection[str],
    until: datetime,
    *,
    from_track: str,
) -> int:
    """Leave the members where they are, not to be sent to before `until` (quiet hours): those still
    waiting in `from_track` only (see move_members)."""
    if not customer_ids:
        return 0
    result = await conn.execute(
        update(cohort_members)
        .where(_still_waiting(run_id, from_track, customer_ids))
        .values(deferred_until=until, updated_at=func.now())
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class NewMember:
    customer_id: str
    premise_id: str | None
    transformer_id: str | None
    feeder_id: str | None
    segment: str | None
    holdout: bool
    expected_kw: float | None


async def insert_members(
    conn: AsyncConnection,
    run_id: str,
    members: list[NewMember],
    step_id: str,
    track: str,
    *,
    first_no: int = 0,
) -> None:
    """The members as rows, member_no in list order from `first_no`, all at `step_id` in `track`: one
    statement over arrays (unnest), which is what keeps 100,000 members to about a second."""
    if not members:
        return
    statement = text(
        "INSERT INTO cohort_members (run_id, customer_id, member_no, premise_id, transformer_id, "
        "feeder_id, segment, holdout, expected_kw, step_id, track) "
        "SELECT :run_id, m.customer_id, m.ord - 1 + :first_no, m.premise_id, m.transformer_id, m.feeder_id, "
        "m.segment, m.holdout, m.expected_kw, :step_id, :track "
        "FROM unnest(CAST(:ids AS text[]), CAST(:premises AS text[]), CAST(:transformers AS text[]), "
        "CAST(:feeders AS text[]), CAST(:segments AS text[]), CAST(:holdouts AS boolean[]), "
        "CAST(:kws AS double precision[])) WITH ORDINALITY "
        "AS m(customer_id, premise_id, transformer_id, feeder_id, segment, holdout, expected_kw, ord)"
    )
    await conn.execute(
        statement,
        {
            "run_id": run_id,
            "first_no": first_no,
            "step_id": step_id,
            "track": track,
            "ids": [m.customer_id for m in members],
            "premises": [m.premise_id for m in members],
            "transformers": [m.transformer_id for m in members],
            "feeders": [m.feeder_id for m in members],
            "segments": [m.segment for m in members],
            "holdouts": [m.holdout for m in members],
            "kws": [m.expected_kw for m in members],
        },
    )


async def add_members(
    conn: AsyncConnection, run_id: str, members: list[NewMember], step_id: str, track: str
) -> TrackSpan:
    """Members joining a running run (a later event names more customers): those not members yet,
    member_no after the run's last, at `step_id` in `track`; the run's counts grow. The run's row is
    locked first, so the joins of a run go one at a time and none after it has ended. Returns the
    span of `track`: a retried join finds its members there already and adds nobody twice."""
    runs = cohort_runs.c
    status = (
        await conn.execute(select(runs.status).where(runs.run_id == run_id).with_for_update())
    ).scalar_one_or_none()
    if status != "running":
        return TrackSpan()
    c = cohort_members.c
    named = [member.customer_id for member in members]
    known = await conn.execute(select(c.customer_id).where(c.run_id == run_id, c.customer_id.in_(named)))
    already = set(known.scalars())
    joining = [member for member in members if member.customer_id not in already]
    if joining:
        last = await conn.execute(select(func.max(c.member_no)).where(c.run_id == run_id))
        highest = last.scalar_one_or_none()
        first_no = 0 if highest is None else highest + 1
        await insert_members(conn, run_id, joining, step_id, track, first_no=first_no)
        held = sum(member.holdout for member in joining)
        await conn.execute(
            update(cohort_runs)
            .where(runs.run_id == run_id)
            .values(members=runs.members + len(joining), holdout=runs.holdout + held)
        )
    return (await track_spans(conn, run_id, [track]))[track]


async def move_track(
    conn: AsyncConnection,
    run_id: str,
    track: str,
    step_id: str | None,
    next_track: str | None,
    *,
    left_reason: str = FINISHED,
    grid: tuple[list[str], list[str], list[str]] | None = None,
) -> TrackSpan:
    """Move every member of `track` (with `grid`, those at the named premises, transformers or
    feeders) to `step_id` in `next_track` (None: finished for `left_reason`). Returns how many moved
    and their member_no range."""
    c = cohort_members.c
    query = update(cohort_members).where(c.run_id == run_id, c.track == track, c.step_id.is_not(None))
    if grid is not None:
        premises, transformers, feeders = grid
        query = query.where(
            or_(c.premise_id.in_(premises), c.transformer_id.in_(transformers), c.feeder_id.in_(feeders))
        )
    moved = (
        query.values(
            step_id=step_id,
            track=next_track if step_id is not None else None,
            deferred_until=None,
            left_reason=None if step_id is not None else left_reason,
            updated_at=func.now(),
        )
        .returning(c.member_no)
        .cte("moved")
    )
    row = (
        await conn.execute(select(func.count(), func.min(moved.c.member_no), func.max(moved.c.member_no)))
    ).one()
    return _span(row[0], row[1], row[2])


def _span(members: int, lowest: int | None, highest: int | None) -> TrackSpan:
    if not members or lowest is None or highest is None:
        return TrackSpan()
    return TrackSpan(members=members, lo=lowest, hi=highest + 1)


async def release_all(conn: AsyncConnection, run_id: str, left_reason: str) -> int:
    """Every member still waiting leaves the run with `left_reason` (the run exited)."""
    c = cohort_members.c
    result = await conn.execute(
        update(cohort_members)
        .where(c.run_id == run_id, c.step_id.is_not(None))
        .values(step_id=None, track=None, deferred_until=None, left_reason=left_reason, updated_at=func.now())
    )
    return result.rowcount or 0


async def where_members_are(conn: AsyncConnection, run_id: str) -> dict[str | None, int]:
    """Members per step (None: finished)."""
    c = cohort_members.c
    rows = await conn.execute(select(c.step_id, func.count()).where(c.run_id == run_id).group_by(c.step_id))
    return {row[0]: row[1] for row in rows}


async def track_spans(conn: AsyncConnection, run_id: str, tracks: Collection[str]) -> dict[str, TrackSpan]:
    """Members waiting in each of `tracks` and their member_no range (empty for an empty track)."""
    c = cohort_members.c
    rows = await conn.execute(
        select(c.track, func.count(), func.min(c.member_no), func.max(c.member_no))
        .where(c.run_id == run_id, c.track.in_(list(tracks)), c.step_id.is_not(None))
        .group_by(c.track)
    )
    found = {row[0]: _span(row[1], row[2], row[3]) for row in rows}
    return {track: found.get(track, TrackSpan()) for track in tracks}
