"""Where a POST's time goes on its way to the SMS, for `gridjourney bench latency`.

Each milestone is read where it is recorded, after the run, for a sample of the triggers:
- `appended`: the trigger's `recorded_at` in the event log (the append's transaction start);
- `workflow_started`: the journey's WorkflowExecutionStarted in Temporal's history (the router noticed
  the event, did its reads and its start call reached the server);
- `first_task_started`: the first workflow task picked up by the worker;
- `<ACTIVITY> scheduled/started/completed`: each activity the run called, first call of each type;
- `sms_received`: the stand-in's receive time.

Every milestone is an offset from the moment the POST left; medians and p90 per milestone show which
leg grows. The bench process's own CPU is split by thread: the event loop (the stand-in and the load
generator), and any workflow threads (sandboxed workflow code) or Temporal Rust core threads, which
show up only when the workers run in this process (bench latency runs them in their own since a991470).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

SAMPLE = 60  # histories read after the run: enough for a median, cheap beside the run

_ACTIVITY_PHASES = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "scheduled",
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: "started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
}


def thread_group(comm: str, is_main: bool) -> str:
    """The part of the bench process a thread belongs to, from its name (/proc/…/comm)."""
    if is_main:
        return "event_loop"
    if comm.startswith("workflow"):
        return "workflow_threads"
    if comm.startswith(("tokio", "temporal")):
        return "temporal_core"
    return "other_threads"


def thread_cpu_seconds() -> dict[str, float]:
    """This process's CPU seconds by thread group (threads that have ended are not counted)."""
    me = psutil.Process()
    groups: dict[str, float] = {}
    for thread in me.threads():
        try:
            comm = Path(f"/proc/{me.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:  # ended between listing and reading
            continue
        group = thread_group(comm, thread.id == me.pid)
        groups[group] = groups.get(group, 0.0) + thread.user_time + thread.system_time
    return groups


def first_task_worker(events: Iterable[HistoryEvent]) -> str:
    """The identity (pid@host) of the worker that took a run's first workflow task."""
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            return str(event.workflow_task_started_event_attributes.identity)
    return ""


def history_milestones(events: Iterable[HistoryEvent]) -> dict[str, datetime]:
    """The first time of each milestone in one journey's history."""
    found: dict[str, datetime] = {}
    activity_names: dict[int, str] = {}
    for event in events:
        at = event.event_time.ToDatetime().astimezone()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            found.setdefault("workflow_started", at)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            found.setdefault("first_task_started", at)
        elif event.event_type in _ACTIVITY_PHASES:
            phase = _ACTIVITY_PHASES[event.event_type]
            if phase == "scheduled":
                scheduled = event.activity_task_scheduled_event_attributes
                activity_names[event.event_id] = scheduled.activity_type.name
                scheduled_id = event.event_id
            elif phase == "started":
                scheduled_id = event.activity_task_started_event_attributes.scheduled_event_id
            else:
                scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
            name = activity_names.get(scheduled_id, "?")
            found.setdefault(f"{name} {phase}", at)
    return found


def summarize(timelines: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median and p90 (ms after the POST) of each milestone over the sampled triggers, in the order
    they usually happen (by their mean rank within each trigger's own timeline)."""
    offsets: dict[str, list[float]] = {}
    ranks: dict[str, list[int]] = {}
    for timeline in timelines:
        for rank, (milestone, offset) in enumerate(sorted(timeline.items(), key=lambda item: item[1])):
            offsets.setdefault(milestone, []).append(offset)
            ranks.setdefault(milestone, []).append(rank)
    summary = {}
    for milestone in sorted(offsets, key=lambda name: statistics.mean(ranks[name])):
        ordered = sorted(offsets[milestone])
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        summary[milestone] = {"p50": round(statistics.median(ordered) * 1000, 1), "p90": round(p90 * 1000, 1)}
    return summary


async def log_head(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT coalesce(max(position), 0) FROM events"))).scalar_one())


async def appended_per_sms(engine: AsyncEngine, after: int, sms: int) -> dict[str, float]:
    """Events appended to the log after position `after`, by type, per SMS received: each one is an
    append, a fold by the projections and a read by the router's subscription."""
    query = text("SELECT type, count(*) FROM events WHERE position > :after GROUP BY type ORDER BY 2 DESC")
    async with engine.connect() as conn:
        rows = (await conn.execute(query, {"after": after})).all()
    return {str(kind): round(count / sms, 2) for kind, count in rows} if sms else {}


async def stages(
    engine: AsyncEngine,
    client: Client,
    sent_at: Mapping[str, float],
    received_at: Mapping[str, float],
    customer_of_phone: Mapping[str, str],
    sample: int = SAMPLE,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Milestones of up to `sample` triggers spread over the run, as offsets from their POST, and the
    identity of the worker that took each one's first workflow task."""
    phones = sorted(sent_at)
    step = max(1, len(phones) // sample)
    chosen = {customer_of_phone[p]: p for p in phones[::step][:sample]}
    query = text(
        "SELECT e.customer_id, e.recorded_at, r.instance_id FROM events e "
        "LEFT JOIN routed_instances r ON r.customer_id = e.customer_id "
        "WHERE e.type = 'bill.projection_updated' AND e.customer_id = ANY(:customers)"
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query, {"customers": list(chosen)})).all()
    timelines = []
    first_tasks = []
    for customer, recorded_at, instance_id in rows:
        phone = chosen[customer]
        posted = sent_at[phone]
        timeline = {"appended": recorded_at.timestamp() - posted}
        if phone in received_at:
            timeline["sms_received"] = received_at[phone] - posted
        if instance_id is not None:
            history = await client.get_workflow_handle(instance_id).fetch_history()
            for milestone, at in history_milestones(history.events).items():
                timeline[milestone] = at.timestamp() - posted
            first_tasks.append(first_task_worker(history.events))
        timelines.append(timeline)
    return summarize(timelines), first_tasks
