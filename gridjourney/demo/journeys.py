"""The journeys the demo publishes: the shipped files, with the outage notice's hold shortened.

journeys/outage_notice.yaml holds its notice 5 minutes, so that a momentary outage gets nothing. The
demo runs on a real-time Temporal server and would wait those 5 minutes; it holds 20 seconds instead
and says so. Everything else is published as shipped.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

DEMO_HOLD = timedelta(seconds=20)
OUTAGE_JOURNEY = "outage_notice.yaml"
# The hold step: `- id: hold` then, within its block, `timeout: <duration>`.
_HOLD_TIMEOUT = re.compile(r"(  - id: hold\n(?:    .*\n|\n)*?\s+timeout: )(\S+)")


def with_demo_hold(source: str, hold: timedelta = DEMO_HOLD) -> str:
    """The outage notice's YAML with the hold step's timeout set to `hold`; unchanged if it has none."""
    return _HOLD_TIMEOUT.sub(lambda m: f"{m.group(1)}{int(hold.total_seconds())}s", source, count=1)


def demo_journey_sources(sources: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    return [
        (path, with_demo_hold(source) if path.name == OUTAGE_JOURNEY else source) for path, source in sources
    ]
