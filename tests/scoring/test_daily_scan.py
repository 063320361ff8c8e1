"""The daily scan's scoring of a batch (pure computation, hand-made reads): the events it makes,
the days it leaves out, the customers it cannot score and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gridjourney.activities.scoring import Profile, Scored, excluded_days, load_detector, score_batch
from gridjourney.events.types import validate_payload

THROUGH = date(2025, 3, 20)
ZONE = "America/Chicago"


def reads(customer_id: str, days: int, step_days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(THROUGH - timedelta(days=days - 1))
    hours = pd.date_range(first, periods=days * 24, freq="h").tz_localize(ZONE, nonexistent="shift_forward")
    hours = hours.drop_duplicates()
    kwh = (0.5 + 0.9 * np.isin(hours.hour, [17, 18, 19, 20])) * rng.normal(1.0, 0.08, len(hours))
    kwh = np.where(hours.date >= THROUGH - timedelta(days=step_days - 1), kwh * 2.2, kwh)
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "meter_id": f"M-{customer_id}",
            "read_at": hours.tz_convert("UTC"),
            "interval_seconds": 3600,
            "kwh": kwh,
        }
    )


def scan(
    frame: pd.DataFrame, ids: list[str], profiles: dict[str, Profile], excluded: pd.DataFrame | None = None
) -> Scored:
    return score_batch(
        frame,
        ids,
        profiles,
        since=THROUGH - timedelta(days=3),
        through=THROUGH,
        detector=None,
        detector_name="rule baseline (test)",
        excluded=excluded,
    )


def test_a_step_is_one_anomaly_and_short_history_is_a_reason_not_an_event() -> None:
    frame = pd.concat([reads("A", 70, 4), reads("B", 10, 0), reads("C", 70, 0, seed=3)])
    profiles = {c: Profile(time_zone=ZONE, billing_cycle_day=18) for c in "ABC"}
    scored = scan(frame, ["A", "B", "C", "D"], profiles)
    assert [(e.customer_id, e.type) for e in scored.events] == [("A", "meter.anomaly_detected")]
    [event] = scored.events
    validate_payload(event.type, event.payload)
    assert event.payload["anomaly_type"] == "step_increase"
    reasons = {skip.customer_id: skip.reason for skip in scored.reasons}
    assert set(reasons) == {"B", "D"}
    assert "days of history" in reasons["B"]
    assert reasons["D"] == f"no reads up to {THROUGH.isoformat()}"
    # The same period again (a later scan): the same event id, so the store keeps the first.
    later = score_batch(
        frame,
        ["A"],
        profiles,
        since=THROUGH - timedelta(days=1),
        through=THROUGH,
        detector=None,
        detector_name="rule",
    )
    assert [e.event_id for e in later.events] in ([], [event.event_id])


def test_no_anomaly_on_known_dr_and_outage_days() -> None:
    frame = reads("A", 70, 4)
    profiles = {"A": Profile(time_zone=ZONE, billing_cycle_day=18)}
    dr_start = datetime(2025, 3, 17, 20, tzinfo=UTC)  # local 15:00, every customer of the batch
    events = [
        (
            "dr.event_scheduled",
            None,
            dr_start,
            {
                "dr_event_id": "dr-1",
                "start": dr_start.isoformat(),
                "end": (dr_start + timedelta(hours=3)).isoformat(),
            },
        ),
        ("outage.detected", "A", datetime(2025, 3, 18, 15, tzinfo=UTC), {"incident_id": "inc-1"}),
        (
            "outage.restored",
            "A",
            datetime(2025, 3, 20, 15, tzinfo=UTC),
            {"incident_id": "inc-1", "restored_at": "2025-03-20T15:00:00+00:00"},
        ),
    ]
    excluded = excluded_days(events, profiles)
    assert sorted(excluded["date"].dt.date) == [date(2025, 3, d) for d in (17, 18, 19, 20)]
    assert scan(frame, ["A"], profiles, excluded=excluded).events == []
    # cancelled: the DR day counts again, but the outage days still do not
    cancelled = [*events, ("dr.event_cancelled", None, dr_start, {"dr_event_id": "dr-1"})]
    assert sorted(excluded_days(cancelled, profiles)["date"].dt.date) == [
        date(2025, 3, d) for d in (18, 19, 20)
    ]


def test_mid_cycle_projection_carries_the_ratio() -> None:
    frame = reads("A", 70, 0)
    profiles = {"A": Profile(time_zone=ZONE, billing_cycle_day=5, tariff="residential_flat")}
    scored = scan(frame, ["A"], profiles)
    [event] = [e for e in scored.events if e.type == "bill.projection_updated"]
    payload = validate_payload(event.type, event.payload)
    assert payload["days_left"] == 15  # cycle 5 March - 4 April, as of 20 March
    assert abs(payload["ratio"] - payload["projected_amount"] / payload["typical_amount"]) < 0.01
    assert 0.8 < payload["ratio"] < 1.25  # steady use: about the usual bill


def test_without_a_saved_model_the_rule_baseline_scores_and_says_why(tmp_path: Path) -> None:
    detector, name = load_detector(tmp_path, None)
    assert detector is None
    assert name.startswith("rule baseline (no saved model anomaly")


def test_days_at_zero_are_a_no_use_event_not_a_spike() -> None:
    frame = reads("Z", 70, 0, seed=4)
    zero_days = pd.to_datetime(frame["read_at"]).dt.tz_convert(ZONE).dt.date >= THROUGH - timedelta(days=1)
    frame.loc[zero_days, "kwh"] = 0.0
    scored = scan(frame, ["Z"], {"Z": Profile(time_zone=ZONE, billing_cycle_day=1)})
    [event] = [e for e in scored.events if e.type == "meter.anomaly_detected"]
    validate_payload(event.type, event.payload)
    assert event.payload["anomaly_type"] == "no_use"
    assert event.payload["days"] == [(THROUGH - timedelta(days=1)).isoformat()]
    assert "no use" in event.payload["description"].lower()
