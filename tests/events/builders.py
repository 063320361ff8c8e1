"""Building events for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from gridjourney.events.models import NewEvent

BASE_TIME = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def new_event(
    type: str,
    customer_id: str | None = "c-1",
    payload: dict[str, Any] | None = None,
    *,
    minute: int = 0,
    event_id: uuid.UUID | None = None,
) -> NewEvent:
    """An event of `type`; `minute` places it after BASE_TIME so tests get distinct, fixed timestamps."""
    return NewEvent(
        event_id=event_id or uuid.uuid4(),
        type=type,
        customer_id=customer_id,
        occurred_at=BASE_TIME + timedelta(minutes=minute),
        source="test",
        payload=payload or {},
    )


def usage(customer_id: str = "c-1", kwh: float = 1.0) -> NewEvent:
    """A valid event no projection folds: handy for exercising the log itself."""
    return new_event("usage.reduced", customer_id, {"kwh_saved": kwh, "period_days": 1})
