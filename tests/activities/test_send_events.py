"""Message event ids (activities/send_events.py): uuid5 of the key and type, under the fixed namespace."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from gridjourney.activities.send_events import MESSAGE_EVENT_NAMESPACE, message_event_id


@given(key=st.text(), event_type=st.text(max_size=30))
def test_an_id_is_uuid5_of_the_key_and_type(key: str, event_type: str) -> None:
    expected = uuid.uuid5(MESSAGE_EVENT_NAMESPACE, f"{key}#{event_type}")
    found = message_event_id(key, event_type)
    assert found == expected and found.version == 5 and str(found) == str(expected)


def test_ids_are_fixed_across_releases() -> None:
    # An attempt after an upgrade must write the id the first attempt wrote.
    assert message_event_id("cohort:dr_event:EV-1:notice:C-1", "message.sent") == uuid.uuid5(
        uuid.UUID("5b0f1c4e-6a43-4d55-9a51-2f0c8f3e7d21"), "cohort:dr_event:EV-1:notice:C-1#message.sent"
    )
    assert message_event_id("k", "message.sent") != message_event_id("k", "message.failed")
