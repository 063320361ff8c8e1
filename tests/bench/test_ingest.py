"""`gridjourney bench ingest` at a tiny size: the saved JSON holds throughput and latency figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench.ingest import main
from tests.bench.environment import restored_environment


def test_ingest_saves_its_figures(tmp_path: Path) -> None:
    with restored_environment():  # the benchmark configures its servers through the environment
        main(["--seconds", "1", "--workers", "1", "--results", str(tmp_path)])

    [saved] = tmp_path.glob("ingest-*.json")
    figures = json.loads(saved.read_text())
    run = figures["runs"]["process_1_worker"]
    assert run["batched"]["events_per_request"] == 1_000
    assert run["single"]["events_per_request"] == 1
    for mode in run.values():
        assert mode["errors"] == 0
        assert mode["requests"] > 0
        per_request = mode["events_per_second"] / mode["requests_per_second"]
        assert abs(per_request - mode["events_per_request"]) < 0.01 * mode["events_per_request"]
        assert 0 < mode["latency_ms"]["p50"] <= mode["latency_ms"]["p99"]
        assert mode["cpu_seconds"]["api"] > 0
    assert len(figures["load_average_before"]) == 3
