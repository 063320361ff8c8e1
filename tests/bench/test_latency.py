"""`gridjourney bench latency` at a tiny size: every posted trigger reaches the stand-in as an SMS and
the saved JSON holds the percentiles."""

from __future__ import annotations

import json
from pathlib import Path

from bench.latency import main
from tests.bench.environment import restored_environment


def test_latency_saves_its_percentiles(tmp_path: Path) -> None:
    with restored_environment():  # the benchmark configures its servers through the environment
        main(["--rate", "4", "--seconds", "1", "--results", str(tmp_path)])

    [saved] = tmp_path.glob("latency-*.json")
    figures = json.loads(saved.read_text())
    assert figures["events_posted"] == 4
    assert figures["posts_refused"] == 0
    assert figures["sms_received"] == 4
    latency = figures["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    cpu = figures["cpu_seconds"]
    assert set(cpu) == {"api", "workers_router_standin_and_load", "postgres", "temporal"}
    assert cpu["workers_router_standin_and_load"] > 0
