"""SMS segment counting and the money/time filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from gridjourney.content import TemplateProblem, render, sms_segments
from gridjourney.content.filters import money


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters take two septets
        ("€" * 81, ("GSM-7", 2)),
        ("¿Sigue sin luz? Ñandú" + "a" * 100, ("UCS-2", 2)),  # ú is not GSM-7
        ("Raúl" + "a" * 66, ("UCS-2", 1)),  # é is GSM-7, ú is not
        ("á" * 71, ("UCS-2", 2)),
        ("á" * 134, ("UCS-2", 2)),
        ("á" * 135, ("UCS-2", 3)),
        ("😀" * 35, ("UCS-2", 1)),  # a character outside the BMP is two UTF-16 units
        ("😀" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments(body: str, expected: tuple[str, int]) -> None:
    assert sms_segments(body) == expected


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (182.4, "USD", "$182.40"),
        (1204, "USD", "$1,204.00"),
        (-3.5, "usd", "-$3.50"),
        (10, "XYZ", "10.00 XYZ"),
    ],
)
def test_money(value: float, currency: str, text: str) -> None:
    assert money(value, currency) == text


def test_local_time_filters_use_the_customer_zone_and_template_locale(tmp_path: Path) -> None:
    body = "{{ event.t | local_time }}|{{ event.t | local_date }}|{{ event.t | local_day }}"
    for locale in ("en", "es"):
        (tmp_path / "sms" / locale).mkdir(parents=True)
        (tmp_path / "sms" / locale / "t.j2").write_text(body)
    context = {"customer": {"time_zone": "America/New_York"}, "event": {"t": "2026-01-05T14:05:00+00:00"}}
    assert render(tmp_path, "sms", "t", "en", context).body == "9:05 AM EST|Monday, January 5|January 5"
    assert render(tmp_path, "sms", "t", "es", context).body == "9:05 a. m. EST|lunes 5 de enero|5 de enero"
    unknown_zone = {"customer": {"time_zone": "Mars/Olympus"}, "event": context["event"]}
    assert render(tmp_path, "sms", "t", "en", unknown_zone).body.startswith("2:05 PM UTC")


def test_a_timestamp_prints_the_same_as_text_or_datetime_in_each_zone(tmp_path: Path) -> None:
    # Text timestamps are formatted once per zone and language (filters._formatted_text): the same
    # text in another zone, or as a datetime, must still print for that zone.
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "t.j2").write_text("{{ event.t | local_datetime }}")
    text = "2026-07-14T20:00:00+00:00"
    expected = {
        "America/Los_Angeles": "Tuesday, July 14 at 1:00 PM PDT",
        "America/New_York": "Tuesday, July 14 at 4:00 PM EDT",
        "Mars/Olympus": "Tuesday, July 14 at 8:00 PM UTC",
    }
    for _ in range(2):
        for zone, printed in expected.items():
            for value in (text, datetime.fromisoformat(text)):
                context = {"customer": {"time_zone": zone}, "event": {"t": value}}
                assert render(tmp_path, "sms", "t", "en", context).body == printed
    with pytest.raises(TemplateProblem, match="not a timestamp"):
        render(tmp_path, "sms", "t", "en", {"customer": {"time_zone": "UTC"}, "event": {"t": 5}})
