"""The shipped outage notice for tests about something other than its 5-minute hold (the hold itself,
momentary outages getting nothing, is tested on a time-skipping server in tests/workflows/test_cohort.py):
these tests run on the Temporal dev server in real time and would otherwise wait five minutes."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTAGE_NOTICE = REPO / "journeys" / "outage_notice.yaml"


def outage_notice_without_hold() -> str:
    """journeys/outage_notice.yaml with its first step, the hold, taken out: the notice goes at once."""
    source = OUTAGE_NOTICE.read_text()
    start, end = source.index("  - id: hold\n"), source.index("  - id: notice\n")
    assert start < end, "the hold is the outage notice's first step"
    return source[:start] + source[end:]
