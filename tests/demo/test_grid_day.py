"""The demo's grid day: who each outage and the DR event reach, and the DR event ids that keep the
showcased customers out of the holdout."""

from __future__ import annotations

from datetime import UTC, datetime

from gridjourney.demo.grid_day import (
    DR_MOVED_BY,
    MOMENTARY_TRANSFORMER,
    OUTAGE_FEEDER,
    RESTORED_TRANSFORMER,
    etr_updated,
    outage_detected,
    plan_grid_day,
    restored,
    treated_event_id,
)
from gridjourney.demo.utility import PEAK_TIME_REWARDS, make_customers
from gridjourney.events.types import validate_payload
from gridjourney.openadr.vtn import LOCAL_VTN_ID
from gridjourney.router.cohorts import cohort_run_id
from gridjourney.workflows.assignment import unit_interval

NOW = datetime(2026, 11, 30, 15, 7, tzinfo=UTC)


def test_the_outages_reach_their_feeder_and_transformer_and_restore_one_transformer_first() -> None:
    customers = make_customers(200, NOW)
    day = plan_grid_day(customers, NOW, holdout=0.1, showcased=["C00001"], capped="C00001")
    on_feeder = {c.customer_id for c in customers if c.feeder_id == OUTAGE_FEEDER}
    assert day.outage.members == on_feeder and len(on_feeder) == 50
    restored_customers = {c.customer_id for c in customers if c.transformer_id == RESTORED_TRANSFORMER}
    assert day.restored_customers == restored_customers and 0 < len(restored_customers) < len(on_feeder)
    assert set(day.outage.restored_premises) == {
        c.premise_id for c in customers if c.customer_id in restored_customers
    }
    momentary = {c.customer_id for c in customers if c.transformer_id == MOMENTARY_TRANSFORMER}
    assert day.momentary.members == momentary and momentary and not momentary & on_feeder
    assert day.enrolled == {c.customer_id for c in customers if PEAK_TIME_REWARDS in c.programs}
    assert len(day.enrolled) == 120  # 60 %
    assert day.dr.new_start is not None and day.dr.new_start - day.dr.start == DR_MOVED_BY
    assert day.outage.incident_id != day.momentary.incident_id


def test_the_chosen_dr_event_id_treats_the_showcased_customers() -> None:
    showcased = [f"C-{n}" for n in range(8)]
    chosen = treated_event_id("PTR-2026120115", 0.5, showcased)
    run_id = cohort_run_id("dr_event", f"{LOCAL_VTN_ID}:{chosen}")  # as the VEN names the VTN's event
    assert all(unit_interval("holdout", run_id, customer) >= 0.5 for customer in showcased)
    # with nobody to showcase, or no holdout, the base id is kept
    assert treated_event_id("PTR-X", 0.5, []) == "PTR-X"
    assert treated_event_id("PTR-X", 0.0, showcased) == "PTR-X"


def test_the_grid_events_are_valid_events() -> None:
    customers = make_customers(40, NOW)
    day = plan_grid_day(customers, NOW, holdout=0.1, showcased=[], capped="C00001")
    later = NOW.replace(minute=30)
    events = [
        outage_detected(day.outage, NOW),
        outage_detected(day.momentary, NOW),
        etr_updated(day.outage, NOW, later),
        restored(day.outage, later),
        restored(day.momentary, later),
    ]
    for event in events:
        validate_payload(event.type, event.payload)
    assert events[3].payload["premise_ids"] == list(day.outage.restored_premises)
    assert events[4].payload["premise_ids"] == []  # the momentary outage ends whole
    # appended again (a replayed demo), each keeps its id
    assert restored(day.outage, later).event_id == events[3].event_id
