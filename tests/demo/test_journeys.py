"""The demo publishes the shipped journeys, with the outage notice's hold shortened."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gridjourney.demo.journeys import demo_journey_sources, with_demo_hold
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import WaitForStep

REPO = Path(__file__).resolve().parents[2]


def _hold(source: str) -> timedelta:
    definition = load_journey_with_positions(source, "outage_notice.yaml").definition
    step = definition.steps[0]
    assert isinstance(step, WaitForStep) and step.id == "hold"
    return step.wait_for.timeout


def test_the_demo_holds_outage_notices_twenty_seconds_and_changes_nothing_else() -> None:
    shipped = (REPO / "journeys" / "outage_notice.yaml").read_text()
    assert _hold(shipped) == timedelta(minutes=5)
    demo = with_demo_hold(shipped)
    assert _hold(demo) == timedelta(seconds=20)
    assert demo.replace("timeout: 20s", "timeout: 5m", 1) == shipped


def test_only_the_outage_notice_is_changed() -> None:
    sources = [(path, path.read_text()) for path in sorted((REPO / "journeys").glob("*.yaml"))]
    changed = [
        path.name
        for (path, source), (_, new) in zip(sources, demo_journey_sources(sources), strict=True)
        if new != source
    ]
    assert changed == ["outage_notice.yaml"]
