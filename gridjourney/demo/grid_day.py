"""The demo's utility-scale events: one Peak Time Rewards event for the enrolled customers (then moved
an hour later by the VTN), and two outages: one on a feeder, with an ETR update and a partial
restoration, and a momentary one on a transformer of another feeder, restored within the journey's
hold. Each is one cohort run (journeys/dr_event.yaml, journeys/outage_notice.yaml).

Pure: the plans, the events they append, and who each run should reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridjourney.demo.utility import (
    PEAK_TIME_REWARDS,
    SOURCE,
    DemoCustomer,
    event_id,
    feeder_id,
    transformer_id,
)
from gridjourney.events.models import NewEvent
from gridjourney.openadr.mapping import dr_event_id_of
from gridjourney.openadr.vtn import LOCAL_VTN_ID
from gridjourney.router.cohorts import cohort_run_id
from gridjourney.workflows.assignment import unit_interval

DR_JOURNEY = "dr_event"
OUTAGE_JOURNEY = "outage_notice"
CRITICAL_PEAK = "Critical Peak Pricing"  # the cap case's customer alone: three more DR notices
OUTAGE_FEEDER = feeder_id(2)
RESTORED_TRANSFORMER = transformer_id(2, 1)  # its premises get power back first; the rest stay out
MOMENTARY_TRANSFORMER = transformer_id(4, 1)
ETR_FIRST = timedelta(hours=2)
ETR_MOVED = timedelta(hours=3, minutes=30)  # 90 minutes later: more than the 30 the journey waits for
DR_MOVED_BY = timedelta(hours=1)


@dataclass(frozen=True)
class DrEventPlan:
    dr_event_id: str
    program: str
    start: datetime
    duration: timedelta
    new_start: datetime | None = None  # the modification; None: never modified

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    @property
    def run_id(self) -> str:
        return dr_run_id(self.dr_event_id)


@dataclass(frozen=True)
class OutagePlan:
    incident_id: str
    transformer_ids: tuple[str, ...]
    feeder_ids: tuple[str, ...]
    members: frozenset[str]
    """Customer ids on the outage's transformers and feeders."""
    restored_premises: tuple[str, ...] = ()
    """Premises given power back while the rest stay out (empty: the whole outage at once)."""

    @property
    def run_id(self) -> str:
        return cohort_run_id(OUTAGE_JOURNEY, self.incident_id)


@dataclass(frozen=True)
class GridDay:
    dr: DrEventPlan
    capped: tuple[DrEventPlan, ...]
    outage: OutagePlan
    momentary: OutagePlan
    enrolled: frozenset[str]
    restored_customers: frozenset[str]


def dr_run_id(vtn_event_id: str) -> str:
    """The cohort run of an event the local VTN sends: the VEN names it by VTN (openadr/mapping.py)."""
    return cohort_run_id(DR_JOURNEY, dr_event_id_of(LOCAL_VTN_ID, vtn_event_id))


def treated_event_id(base: str, holdout: float, showcased: Iterable[str]) -> str:
    """A DR event id under which the showcased customers are treated, not held out (the holdout is a
    stable hash of run id and customer: journeys/dr_event.yaml), so the demo's cases are shown."""
    customers = list(showcased)
    for attempt in range(1000):
        candidate = base if attempt == 0 else f"{base}-{attempt}"
        run_id = dr_run_id(candidate)
        if all(unit_interval("holdout", run_id, customer) >= holdout for customer in customers):
            return candidate
    raise RuntimeError(f"no DR event id from {base} treats {customers}")  # 0.9^n per try: unreachable


def plan_grid_day(
    customers: list[DemoCustomer], now: datetime, *, holdout: float, showcased: Iterable[str], capped: str
) -> GridDay:
    """`showcased`: customers the DR cases need treated; `capped`: the cap case's customer."""
    showcased = list(showcased)
    tomorrow = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    dr = DrEventPlan(
        treated_event_id(f"PTR-{tomorrow:%Y%m%d%H}", holdout, showcased),
        PEAK_TIME_REWARDS,
        tomorrow,
        timedelta(hours=3),
        new_start=tomorrow + DR_MOVED_BY,
    )
    extra = tuple(
        DrEventPlan(
            treated_event_id(f"CPP-{start:%Y%m%d%H}", holdout, [capped]),
            CRITICAL_PEAK,
            start,
            timedelta(hours=2),
        )
        for start in (tomorrow + timedelta(days=day) for day in (1, 2, 3))
    )
    on_feeder = [c for c in customers if c.feeder_id == OUTAGE_FEEDER]
    restored = [c for c in on_feeder if c.transformer_id == RESTORED_TRANSFORMER]
    return GridDay(
        dr=dr,
        capped=extra,
        outage=OutagePlan(
            f"INC-{now:%Y%m%d%H%M}-F",
            (),
            (OUTAGE_FEEDER,),
            frozenset(c.customer_id for c in on_feeder),
            restored_premises=tuple(sorted({c.premise_id for c in restored})),
        ),
        momentary=OutagePlan(
            f"INC-{now:%Y%m%d%H%M}-M",
            (MOMENTARY_TRANSFORMER,),
            (),
            frozenset(c.customer_id for c in customers if c.transformer_id == MOMENTARY_TRANSFORMER),
        ),
        enrolled=frozenset(c.customer_id for c in customers if PEAK_TIME_REWARDS in c.programs),
        restored_customers=frozenset(c.customer_id for c in restored),
    )


def _grid_event(kind: str, key: str, at: datetime, **payload: Any) -> NewEvent:
    return NewEvent(event_id=event_id(kind, key), type=kind, occurred_at=at, source=SOURCE, payload=payload)


def outage_detected(plan: OutagePlan, now: datetime) -> NewEvent:
    return _grid_event(
        "outage.detected",
        plan.incident_id,
        now,
        incident_id=plan.incident_id,
        transformer_ids=list(plan.transformer_ids),
        feeder_ids=list(plan.feeder_ids),
        cause="storm damage" if plan.feeder_ids else "recloser operation",
        etr=(now + ETR_FIRST).isoformat(),
    )


def etr_updated(plan: OutagePlan, detected_at: datetime, now: datetime) -> NewEvent:
    return _grid_event(
        "outage.etr_updated",
        plan.incident_id,
        now,
        incident_id=plan.incident_id,
        etr=(detected_at + ETR_MOVED).isoformat(),
    )


def restored(plan: OutagePlan, now: datetime) -> NewEvent:
    """The plan's restored premises (partial), or the whole outage when it names none."""
    return _grid_event(
        "outage.restored",
        f"{plan.incident_id}:{','.join(plan.restored_premises)}",
        now,
        incident_id=plan.incident_id,
        premise_ids=list(plan.restored_premises),
        restored_at=now.isoformat(),
    )
