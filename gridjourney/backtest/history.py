"""had()'s facts in a backtest: folded from the log as the replay reads it, in order, so that a
condition sees the customer's history as the engine would have read it at that moment
(projections/history.py): the newest event of each had()'s type for which its `where` holds, never
the run's own trigger. in_journey() would need every other journey's runs: a backtest refuses it."""

from __future__ import annotations

from datetime import datetime

from gridjourney.dsl.expressions import condition
from gridjourney.dsl.functions import Facts, HistoryUse
from gridjourney.events.models import StoredEvent
from gridjourney.router.router import event_ref


class History:
    def __init__(self, uses: list[HistoryUse]) -> None:
        self._uses: dict[str, list[HistoryUse]] = {}
        for use in uses:
            self._uses.setdefault(use.event_type, []).append(use)
        self._tests = {use.key: condition(use.where) for use in uses if use.where is not None}
        # (customer, history key) -> the two newest matching (occurred_at, event_id): one may be the
        # trigger, which never counts
        self._newest: dict[tuple[str, str], list[tuple[datetime, str]]] = {}

    @property
    def event_types(self) -> set[str]:
        return set(self._uses)

    def apply(self, event: StoredEvent) -> None:
        uses = self._uses.get(event.type)
        if not uses or event.customer_id is None:
            return
        past = event_ref(event).namespace()
        for use in uses:
            if use.where is None or self._tests[use.key]({"event": past}):
                newest = self._newest.setdefault((event.customer_id, use.key), [])
                newest.append((event.occurred_at, str(event.event_id)))
                del newest[:-2]

    def facts(self, customer_id: str, now: datetime, zone: str, trigger_id: str) -> Facts:
        last_seen = {}
        for use in (use for uses in self._uses.values() for use in uses):
            found = [
                at for at, event_id in self._newest.get((customer_id, use.key), []) if event_id != trigger_id
            ]
            if found:
                last_seen[use.key] = max(found)
        return Facts(now=now, zone=zone, last_seen=last_seen)
