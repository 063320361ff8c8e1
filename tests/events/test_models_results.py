"""The store's quick AppendResult is the model's own: the same values, fields set and JSON."""

from __future__ import annotations

import uuid

import pytest

from gridjourney.events.models import AppendResult, append_result


@pytest.mark.parametrize("duplicate", [False, True])
def test_append_result_is_what_validation_builds(duplicate: bool) -> None:
    event_id = uuid.uuid4()
    quick = append_result(event_id, 42, duplicate)
    validated = AppendResult(event_id=event_id, position=42, duplicate=duplicate)

    assert quick == validated
    assert quick.model_fields_set == validated.model_fields_set
    assert quick.model_dump_json() == validated.model_dump_json()
    assert quick.model_fields_set is not append_result(event_id, 42, duplicate).model_fields_set
