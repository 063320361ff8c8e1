"""The JSON-lines formatter and its masking of phone numbers and email addresses."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from gridjourney.logs import JsonLines, redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +15035550100 failed", "to [phone] failed"),
        ("To=%2B15035550100&Body=Hi", "To=[phone]&Body=Hi"),
        ("call (503) 555-0100 or 503.555.0100", "call [phone] or [phone]"),
        ("ada.byron@example.com bounced", "[email] bounced"),
    ],
)
def test_contacts_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text", ["listening on http://127.0.0.1:8000", "at 2026-11-29T19:02:53+00:00", "position 1700000000"]
)
def test_addresses_times_and_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


def test_a_record_is_one_json_line_with_its_traceback_masked() -> None:
    try:
        raise ValueError("duplicate key (phone)=(+15035550100)")
    except ValueError:
        record = logging.LogRecord(
            "db", logging.ERROR, __file__, 1, "insert of %s failed", ("c-1",), sys.exc_info()
        )
    line = JsonLines().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["logger"], parsed["message"]) == ("error", "db", "insert of c-1 failed")
    assert "ValueError" in parsed["error"] and "+15035550100" not in parsed["error"]
