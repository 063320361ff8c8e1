"""Where the demo's DR events come from: the local OpenADR VTN, which the VEN polls (the events reach the
log as the VEN appends them), or, with no VTN, the demo appends the same dr.* events itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from gridjourney.demo.grid_day import DrEventPlan, dr_modified, dr_scheduled
from gridjourney.events.store import EventStore
from gridjourney.openadr.vtn import LocalVtn


class DrFeed(Protocol):
    @property
    def origin(self) -> str: ...

    async def schedule(self, plan: DrEventPlan) -> None: ...

    async def modify(self, plan: DrEventPlan) -> None:
        """Move the event to `plan.new_start` (same duration)."""
        ...


class VtnFeed:
    """The local VTN schedules the events for our VEN, which turns them into dr.* events."""

    def __init__(self, vtn: LocalVtn, ven_name: str) -> None:
        self.vtn = vtn
        self.ven_name = ven_name

    @property
    def origin(self) -> str:
        return f"OpenADR VTN {self.vtn.url}"

    async def schedule(self, plan: DrEventPlan) -> None:
        self.vtn.add_event(
            ven_name=self.ven_name,
            program=plan.program,
            start=plan.start,
            duration=plan.duration,
            event_id=plan.dr_event_id,
        )

    async def modify(self, plan: DrEventPlan) -> None:
        self.vtn.modify_event(plan.dr_event_id, ven_name=self.ven_name, start=plan.new_start)


class LogFeed:
    """No VTN: the demo appends the dr.* events a VEN would."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @property
    def origin(self) -> str:
        return "appended by the demo (no VTN)"

    async def schedule(self, plan: DrEventPlan) -> None:
        await self.store.append([dr_scheduled(plan, datetime.now(UTC))])

    async def modify(self, plan: DrEventPlan) -> None:
        await self.store.append([dr_modified(plan, datetime.now(UTC))])
