"""The quick check of POST /v1/events accepts only what the careful check accepts, and makes the same
events of it: checked on generated requests, valid ones and ones with a value broken here and there."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridjourney.api.deps import admission_context
from gridjourney.api.event_batch import quickly_checked
from gridjourney.api.problems import ApiProblem
from gridjourney.api.routes.events import _CHECKED_TYPES, _carefully_checked
from gridjourney.config import Settings
from gridjourney.events.store import CheckedEvent

NOW = datetime.now(UTC)
SOON = (NOW + timedelta(hours=2)).isoformat()
LATER = (NOW + timedelta(hours=4)).isoformat()
TEMPLATES: list[dict[str, Any]] = [
    {
        "type": "bill.projection_updated",
        "customer_id": "C-1001",
        "occurred_at": "2025-07-14T08:00:00-05:00",
        "source": "billing",
        "payload": {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12, "currency": "USD"},
    },
    {
        "type": "customer.created",
        "customer_id": "C-1002",
        "occurred_at": "2025-07-14T09:30:00Z",
        "source": "crm",
        "payload": {
            "name": "Ana Ruiz",
            "phone": "+1 503 555 0142",
            "email": "ana@example.com",
            "locale": "es",
        },
    },
    {
        "type": "consent.changed",
        "customer_id": "C-1002",
        "occurred_at": "2025-07-14T09:30:05.25+02:00",
        "source": "crm",
        "schema_version": 2,
        "payload": {"channel": "sms", "purpose": "informational", "granted": True},
    },
    {
        "type": "outage.detected",
        "occurred_at": "2025-07-14T10:00:00Z",
        "source": "oms",
        "payload": {"incident_id": "I-1", "premise_id": "P-1", "feeder_ids": ["F-1"]},
    },
    {
        "type": "dr.event_scheduled",
        "occurred_at": NOW.isoformat(),
        "source": "dr-operator",
        "payload": {"dr_event_id": "DR-1", "program": "ptr", "start": SOON, "end": LATER, "signal_level": 2},
    },
    {
        "type": "program.enrolled",
        "customer_id": "C-1003",
        "occurred_at": "2025-07-14T10:00Z",
        "source": "crm",
        "payload": {"program": "ptr"},
    },
    {
        "type": "customer.updated",
        "customer_id": "C-1003",
        "occurred_at": "2025-07-14T10:00Z",
        "source": "crm",
    },
    {
        "type": "customer.updated",
        "customer_id": "C-1005",
        "occurred_at": "2025-07-14T11:00:00Z",
        "source": "crm",
        "payload": {"attributes": {"tier": {"b": 1, "a": [1, 2.5, None]}}, "time_zone": "America/Chicago"},
    },
    {
        "type": "bill.past_due",
        "customer_id": "C-1004",
        "occurred_at": "2025-07-14T10:00:00Z",
        "source": "billing",
        "payload": {"amount_due": 80.5, "days_past_due": 3, "due_date": "2025-07-10T00:00:00Z"},
    },
]
ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        "",
        "x" * 101,
        "a\x00b",
        "\ud800",
        0,
        -1,
        2**63,
        1.5,
        True,
        [],
        {},
        {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": 1}}}}}}}}},
        "2025-07-14T08:00:00",
        "2025-07-14t08:00:00z",
        "2025-07-14T08:00:00.123456789Z",
        "2025-07-14T08:00:00Z\n",
        1752480000,
        1752480000.5,
        "café",
        "2025-07-14 08:00:00+01:00",
        "1800-01-01T00:00:00Z",
        "2999-01-01T00:00:00Z",
        "journey.entered",
        "message.sent",
        "no.such_type",
        "C 1",
        "+15035550142",
        "not an email",
        "Mars/Olympus",
        "fr",
    ]
)
FIELDS = st.sampled_from(
    ["event_id", "type", "customer_id", "occurred_at", "source", "schema_version", "extra"]
)
PAYLOAD_FIELDS = st.sampled_from(
    [
        "projected_amount",
        "days_left",
        "currency",
        "name",
        "phone",
        "email",
        "locale",
        "channel",
        "granted",
        "incident_id",
        "premise_ids",
        "attributes",
        "start",
        "end",
        "program",
        "amount_due",
        "hardship",
        "x",
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> list[Any]:
    items: list[Any] = []
    for template in draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=4)):
        item = copy.deepcopy(template)
        item["event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
        for _ in range(draw(st.integers(0, 2))):
            value = draw(ODD_VALUES)
            if draw(st.booleans()):
                item[draw(FIELDS)] = value
            elif isinstance(item.get("payload"), dict):
                item["payload"][draw(PAYLOAD_FIELDS)] = value
            else:
                item["payload"] = value
            if draw(st.integers(0, 9)) == 0:
                item.pop(draw(FIELDS), None)
        items.append(item)
    return items


def careful(items: list[Any]) -> list[CheckedEvent] | None:
    try:
        return _carefully_checked(copy.deepcopy(items), True, CONTEXT)
    except ApiProblem:
        return None


def same(quick: CheckedEvent, checked: CheckedEvent) -> bool:
    return (
        type(quick.event) is type(checked.event)
        and quick.event.model_dump() == checked.event.model_dump()
        and quick.event.model_fields_set == checked.event.model_fields_set
        and quick.event.occurred_at.tzinfo == checked.event.occurred_at.tzinfo
        and quick.payload == checked.payload
    )


CONTEXT = admission_context(Settings(locales=["en", "es"]))


def test_every_template_is_accepted_quickly_as_the_careful_check_accepts_it() -> None:
    items = [{**copy.deepcopy(template), "event_id": str(uuid.uuid4())} for template in TEMPLATES]
    quick = quickly_checked(copy.deepcopy(items), _CHECKED_TYPES, CONTEXT)
    checked = careful(items)
    assert quick is not None and checked is not None
    assert all(same(q, c) for q, c in zip(quick, checked, strict=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_what_the_quick_check_accepts_the_careful_one_accepts_the_same(items: list[Any]) -> None:
    quick = quickly_checked(copy.deepcopy(items), _CHECKED_TYPES, CONTEXT)
    if quick is None:
        return  # the careful check decides (and words the errors): that path is the one tests/api pins
    checked = careful(items)
    assert checked is not None, items
    assert all(same(q, c) for q, c in zip(quick, checked, strict=True)), items
