"""CohortWorkflow's tracks (workflows/cohort.py): each track runs as its own coroutine from a step;
a step's members go on in new tracks, spawned over the member_no span the table gives them."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.schema import AnyStep
    from gridjourney.workflows.cohort_contracts import (
        COUNT_TRACKS,
        CountTracksInput,
        ParkedTrack,
        TrackSpan,
        TrackState,
    )

from gridjourney.workflows.cohort_base import CohortBase


class CohortTracks(CohortBase):
    def _spawn(
        self,
        track: str,
        step_id: str | None,
        members: int,
        visits: dict[str, int] | None = None,
        *,
        parent: str | None = None,
        resume: ParkedTrack | None = None,
    ) -> None:
        """Run `track` from `step_id` (None: its members have finished) in its own coroutine; it came
        from `parent` (joined members' tracks pass on where their wait_for events begin); `resume`: it
        goes on waiting where the run it continues left it."""
        if step_id is None or members <= 0:
            return
        if parent is not None and parent in self._since:
            self._since[track] = self._since[parent]
        self._state.tracks[track] = TrackState(step_id=step_id, members=members)
        self._live += 1
        self._tasks.append(asyncio.create_task(self._run_track(track, step_id, dict(visits or {}), resume)))

    async def _run_track(
        self, track: str, step_id: str, visits: dict[str, int], resume: ParkedTrack | None
    ) -> None:
        try:
            if resume is None:  # a resumed wait was counted by the run it continues
                visits[step_id] = visits.get(step_id, 0) + 1
            await self._step(track, self._journey.step(step_id), visits, resume)
        finally:
            self._parked.pop(track, None)
            self._live -= 1
            self._state.tracks.pop(track, None)

    async def _step(
        self, track: str, step: AnyStep, visits: dict[str, int], resume: ParkedTrack | None = None
    ) -> None:
        """Run one step over the track's members (workflows/cohort_steps.py)."""
        raise NotImplementedError

    async def _follow(self, steps: dict[str, str | None], visits: dict[str, int], parent: str) -> int:
        """Start the tracks a step moved members to (track → its step), counted in the table; returns
        how many members are left in `parent`."""
        spans: dict[str, TrackSpan] = await self._bookkeeping(
            COUNT_TRACKS,
            CountTracksInput(run_id=self._run_id, tracks=[parent, *steps]),
            result_type=dict[str, TrackSpan],
        )
        for track, step_id in steps.items():
            self._spans[track] = (spans[track].lo, spans[track].hi)
            self._spawn(track, step_id, spans[track].members, visits, parent=parent)
        left = spans[parent]
        if left.members > 0:  # those left (deferred) are asked again over their own range only
            self._spans[parent] = (left.lo, left.hi)
        state = self._state.tracks.get(parent)
        if state is not None:
            state.members = left.members
        return left.members

    async def _move_on(self, track: str, step_id: str | None, visits: dict[str, int]) -> None:
        next_track = self._new_track(step_id) if step_id is not None else None
        moved = await self._move_track(track, step_id, next_track)
        if next_track is not None:
            self._spans[next_track] = self._spans[track]
            self._spawn(next_track, step_id, moved, visits, parent=track)
