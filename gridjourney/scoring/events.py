"""Scores as events: meter.anomaly_detected and bill.projection_updated, with stable ids so a rescan
of the same days appends nothing twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any

import pandas as pd

from gridjourney.events.models import NewEvent
from gridjourney.scoring.bill_projection import cycle_bounds

SOURCE = "scoring"
NAMESPACE = uuid.UUID("9d1f3a52-62a4-4c1e-8f0b-7c3d2e5a4b61")


def _at(day: object) -> datetime:
    return datetime.combine(pd.Timestamp(str(day)).date(), time(), tzinfo=UTC)


def _rows(frame: pd.DataFrame) -> list[Any]:
    # itertuples rows: pandas-stubs cannot type their fields, so they are Any here.
    return list(frame.itertuples())


def _anomaly_key(alert: Any, billing_cycle_day: dict[str, int] | None) -> str:
    if billing_cycle_day is None:
        return f"anomaly:{alert.customer_id}:{alert.anomaly_type}:{alert.first_date}"
    # Keyed on the billing period: however the days of one anomaly fall across daily scans, a
    # customer gets at most one event per type and period.
    start, _ = cycle_bounds(
        pd.Timestamp(str(alert.alert_date)).date(), int(billing_cycle_day.get(str(alert.customer_id), 1))
    )
    return f"anomaly:{alert.customer_id}:{alert.anomaly_type}:period:{start.isoformat()}"


def anomaly_events(
    alerts: pd.DataFrame,
    meter_ids: dict[str, str] | None = None,
    *,
    billing_cycle_day: dict[str, int] | None = None,
) -> list[NewEvent]:
    """One event per alert. With `billing_cycle_day`, the event id is that of the customer's billing
    period and type (what the daily scan uses), else of the anomaly's first day."""
    return [
        NewEvent(
            event_id=uuid.uuid5(NAMESPACE, _anomaly_key(a, billing_cycle_day)),
            type="meter.anomaly_detected",
            customer_id=str(a.customer_id),
            occurred_at=_at(a.alert_date),
            source=SOURCE,
            payload={
                "anomaly_type": a.anomaly_type,
                "score": float(a.score),
                "meter_id": (meter_ids or {}).get(str(a.customer_id)),
                "description": a.description,
                "days": list(a.days),
            },
        )
        for a in _rows(alerts)
    ]


def projection_events(projections: pd.DataFrame) -> list[NewEvent]:
    return [
        NewEvent(
            event_id=uuid.uuid5(NAMESPACE, f"projection:{p.customer_id}:{p.bill_period_start}:{p.as_of}"),
            type="bill.projection_updated",
            customer_id=str(p.customer_id),
            occurred_at=_at(p.as_of),
            source=SOURCE,
            payload={
                "projected_amount": float(p.projected_amount),
                "projected_amount_low": float(p.projected_amount_low),
                "projected_amount_high": float(p.projected_amount_high),
                "typical_amount": float(p.typical_amount),
                "days_left": int(p.days_left),
                "ratio": float(p.ratio) if pd.notna(p.ratio) else None,
                "bill_period_start": _at(p.bill_period_start).isoformat(),
                "bill_period_end": _at(p.bill_period_end).isoformat(),
            },
        )
        for p in _rows(projections.dropna(subset=["typical_amount"]))
    ]
