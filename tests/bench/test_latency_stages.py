"""The milestones of bench latency: summarized in the order a journey passes them, with their
percentiles; the bench process's threads named by the part they run."""

from __future__ import annotations

from bench.latency_stages import summarize, thread_group


def test_milestones_keep_the_order_each_journey_passed_them() -> None:
    # the second journey's SMS came late: by median alone it would sort after its own send's end
    timelines = [
        {"appended": 0.01, "workflow_started": 0.05, "sms_received": 0.10, "send completed": 0.12},
        {"appended": 0.02, "workflow_started": 0.06, "sms_received": 0.30, "send completed": 0.31},
        {"appended": 0.01, "workflow_started": 0.04, "sms_received": 0.11, "send completed": 0.13},
    ]
    summary = summarize(timelines)
    assert list(summary) == ["appended", "workflow_started", "sms_received", "send completed"]
    assert summary["sms_received"] == {"p50": 110.0, "p90": 300.0}
    assert summary["appended"]["p50"] == 10.0


def test_threads_are_grouped_by_the_part_they_run() -> None:
    assert thread_group("python", is_main=True) == "event_loop"
    assert thread_group("workflow-proces", is_main=False) == "workflow_threads"
    assert thread_group("tokio-rt-worker", is_main=False) == "temporal_core"
    assert thread_group("asyncio_0", is_main=False) == "other_threads"
