"""`gridjourney bench latency` at a tiny size: every posted trigger reaches the stand-in as an SMS, sent
by the worker process the router process started its journey on, and the saved JSON holds the
percentiles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.latency import TemporalTuning, go_gc, main
from tests.bench.environment import restored_environment

# the production layout: each part its own process, this one only the stand-in and the load; the
# embedded one: the workers and the router in this process, as `gridjourney run` has them
PROCESSES = {
    "production": {"api", "worker", "router", "standin_and_load"},
    "embedded": {"api", "workers_router_standin_and_load"},
}


@pytest.mark.parametrize("layout", ["production", "embedded"])
def test_latency_saves_its_percentiles(tmp_path: Path, layout: str) -> None:
    with restored_environment():  # the benchmark configures its servers through the environment
        main(["--rate", "4", "--seconds", "1", "--results", str(tmp_path), "--layout", layout])

    [saved] = tmp_path.glob("latency-*.json")
    figures = json.loads(saved.read_text())
    assert figures["events_posted"] == 4
    assert figures["posts_refused"] == 0
    assert figures["sms_received"] == 4
    latency = figures["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    cpu = figures["cpu_seconds"]
    assert figures["layout"] == layout
    assert set(cpu) == PROCESSES[layout] | {"postgres", "temporal"}
    assert all(cpu[process] > 0 for process in PROCESSES[layout])
    assert figures["bench_process_cpu_seconds_by_thread"]["event_loop"] > 0
    milestones = figures["milestones_ms_after_post"]
    # each leg read back from the log and Temporal's histories, in the order a journey passes them
    legs = [name for name in milestones if name in {"appended", "workflow_started", "sms_received"}]
    assert legs == ["appended", "workflow_started", "sms_received"]
    assert 0 < milestones["sms_received"]["p50"] <= milestones["sms_received"]["p90"]
    assert figures["events_appended_per_sms"]["bill.projection_updated"] == 1.0  # one trigger each
    # eager start: the process that started a journey (the router, in production) takes its first task
    starter = "router" if layout == "production" else "workers_router_standin_and_load"
    assert figures["first_workflow_task_by"].get(starter, 0) >= 1, figures["first_workflow_task_by"]


def test_the_dev_server_tuning_becomes_its_arguments_and_environment() -> None:
    tuning = TemporalTuning(("matching.numTaskqueueReadPartitions=1", "limit.x=2"), gogc=400)
    assert tuning.extra_args() == [
        "--dynamic-config-value",
        "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value",
        "limit.x=2",
    ]
    with restored_environment():
        os.environ.pop("GOGC", None)
        with go_gc(400):
            assert os.environ["GOGC"] == "400"
        assert "GOGC" not in os.environ
        with go_gc(None):
            assert "GOGC" not in os.environ


@pytest.mark.parametrize(
    "arguments",
    [["--temporal-config", "no-value"], ["--temporal-gogc", "0"], ["--rate", "0"], ["--layout", "cloud"]],
)
def test_bad_options_are_refused_before_anything_starts(arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(arguments)
    assert refused.value.code == 2
