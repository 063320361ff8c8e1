"""engine_event (events/models.py) builds what NewEvent.model_construct builds from the same values."""

from __future__ import annotations

import copy
import pickle
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from gridjourney.events.models import NewEvent, engine_event

VALUES: dict[str, Any] = {
    "event_id": uuid.UUID("5b0f1c4e-6a43-4d55-9a51-2f0c8f3e7d21"),
    "event_type": "message.sent",
    "customer_id": "C-1",
    "occurred_at": datetime(2026, 11, 30, 8, tzinfo=UTC),
    "source": "gridjourney.send",
    "payload": {"idempotency_key": "k", "channel": "email", "segments": None},
}


def constructed() -> NewEvent:
    values = dict(VALUES)
    return NewEvent.model_construct(type=values.pop("event_type"), schema_version=1, **values)


def test_an_engine_event_is_the_constructed_model() -> None:
    built, expected = engine_event(**VALUES), constructed()
    assert type(built) is NewEvent
    assert list(built.__dict__.items()) == list(expected.__dict__.items())
    assert built.model_fields_set == expected.model_fields_set
    assert built.__pydantic_extra__ == expected.__pydantic_extra__
    assert built.__pydantic_private__ == expected.__pydantic_private__
    assert built == expected
    assert built.model_dump(mode="json") == expected.model_dump(mode="json")
    assert built.model_dump_json() == expected.model_dump_json()
    assert pickle.loads(pickle.dumps(built)) == expected
    assert copy.deepcopy(built) == expected


def test_each_event_has_its_own_fields_set() -> None:
    first, second = engine_event(**VALUES), engine_event(**VALUES)
    assert first.model_fields_set is not second.model_fields_set


def test_the_customer_id_is_still_checked() -> None:
    with pytest.raises(ValueError, match="does not match"):
        engine_event(**{**VALUES, "customer_id": "bad id"})
