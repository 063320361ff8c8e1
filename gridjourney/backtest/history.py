"""The date and history functions' facts in a backtest, folded from the log as the replay reads it,
in order, so that a condition sees the customer's history as the engine would have read it at that
moment (projections/history.py):

- had(): the newest event of each had()'s type for which its `where` holds, never the run's own
  trigger;
- in_journey(): the runs of other journeys the log recorded (journey.entered opens one, journey.exited
  ends it, as the journey_instances projection folds them); the backtested journey's own runs are the
  replay's, not the log's (the caller says whether the customer has one open)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from gridjourney.dsl.expressions import condition
from gridjourney.dsl.functions import Facts, HistoryUse
from gridjourney.events.models import StoredEvent
from gridjourney.router.router import event_ref

JOURNEY_RECORDS = ("journey.entered", "journey.exited")


class History:
    def __init__(self, uses: list[HistoryUse], journeys: Collection[str] = (), own_journey: str = "") -> None:
        self._journeys = frozenset(journeys)
        self._own_journey = own_journey
        # (customer, journey) -> the instances the log shows active
        self._active: dict[tuple[str, str], set[str]] = {}
        self._uses: dict[str, list[HistoryUse]] = {}
        for use in uses:
            self._uses.setdefault(use.event_type, []).append(use)
        self._tests = {use.key: condition(use.where) for use in uses if use.where is not None}
        # (customer, history key) -> the two newest matching (occurred_at, event_id): one may be the
        # trigger, which never counts
        self._newest: dict[tuple[str, str], list[tuple[datetime, str]]] = {}

    @property
    def event_types(self) -> set[str]:
        return set(self._uses) | (set(JOURNEY_RECORDS) if self._journeys - {self._own_journey} else set())

    def apply(self, event: StoredEvent) -> None:
        if event.type in JOURNEY_RECORDS:
            self._apply_journey_record(event)
        uses = self._uses.get(event.type)
        if not uses or event.customer_id is None:
            return
        past = event_ref(event).namespace()
        for use in uses:
            if use.where is None or self._tests[use.key]({"event": past}):
                newest = self._newest.setdefault((event.customer_id, use.key), [])
                newest.append((event.occurred_at, str(event.event_id)))
                del newest[:-2]

    def _apply_journey_record(self, event: StoredEvent) -> None:
        journey_id, instance_id = event.payload.get("journey_id"), event.payload.get("instance_id")
        asked = journey_id in self._journeys and journey_id != self._own_journey
        if not asked or event.customer_id is None or not isinstance(instance_id, str):
            return
        active = self._active.setdefault((event.customer_id, str(journey_id)), set())
        if event.type == "journey.entered":
            active.add(instance_id)
        else:
            active.discard(instance_id)

    def facts(
        self, customer_id: str, now: datetime, zone: str, trigger_id: str, *, in_own_journey: bool = False
    ) -> Facts:
        last_seen = {}
        for use in (use for uses in self._uses.values() for use in uses):
            found = [
                at for at, event_id in self._newest.get((customer_id, use.key), []) if event_id != trigger_id
            ]
            if found:
                last_seen[use.key] = max(found)
        journeys = {j for j in self._journeys if self._active.get((customer_id, j))}
        if in_own_journey and self._own_journey in self._journeys:
            journeys.add(self._own_journey)
        return Facts(now=now, zone=zone, last_seen=last_seen, journeys=frozenset(journeys))
