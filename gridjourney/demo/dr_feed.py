"""Where the demo's DR events come from: the local OpenADR VTN schedules and moves them for our VEN,
which polls it and appends what they become (dr.event_scheduled, dr.event_modified: openadr/ven.py)."""

from __future__ import annotations

from gridjourney.demo.grid_day import DrEventPlan
from gridjourney.openadr.vtn import LocalVtn


class DrFeed:
    def __init__(self, vtn: LocalVtn, ven_name: str) -> None:
        self.vtn = vtn
        self.ven_name = ven_name

    @property
    def origin(self) -> str:
        return f"OpenADR VTN {self.vtn.url}"

    def schedule(self, plan: DrEventPlan) -> None:
        self.vtn.add_event(
            ven_name=self.ven_name,
            program=plan.program,
            start=plan.start,
            duration=plan.duration,
            event_id=plan.dr_event_id,
        )

    def modify(self, plan: DrEventPlan) -> None:
        """Move the event to `plan.new_start` (same duration): a new modification number."""
        self.vtn.modify_event(plan.dr_event_id, ven_name=self.ven_name, start=plan.new_start)
