"""What a cohort run keeps of its members' events: a run is shared and no erasure deletes it, so a
member's reply or profile change reaches it (start input or signal) without its personal fields.
Against real Postgres and the Temporal dev server, read back through the client's codec; the first
test runs no worker (what is tested is what the router hands Temporal), the second runs the cohort
workers to show that a run still hears the reply it waits for."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl import registry
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from gridjourney.workflows.contracts import EventRef
from tests.cohorts import support as cohorts
from tests.events.builders import new_event
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE

NAME, PHONE, EMAIL = "Octavia Brennan-Mwangi", "+15035550143", "octavia.bm@example.com"
REPLY = f"YES this is {NAME}, call me on {PHONE}"

# A run per channel that waits for replies: message.received carries the key, so it hears them.
REPLY_POLL = """
id: reply_poll
mode: cohort
purpose: informational
trigger: {event: outage.reported}
cohort:
  key: event.channel
  audience: {grid: true}
steps:
  - id: ask
    send: {channels: [sms], template: outage_detected}
  - id: await_reply
    wait_for: {event: message.received, timeout: 2d, when: "event.keyword == 'YES'"}
"""

# A run per premise started by a customer's creation and updated by their profile changes.
PREMISE_WATCH = """
id: premise_watch
mode: cohort
purpose: informational
trigger: {event: customer.created}
cohort:
  key: event.premise_id
  audience: {grid: true}
  updates: [customer.updated]
steps:
  - id: hello
    send: {channels: [sms], template: outage_detected}
  - id: pause
    wait: 2d
"""


async def _refs(client: Client, payloads: list[Payload]) -> list[EventRef]:
    decoded = await client.data_converter.decode(payloads, [EventRef])
    return [ref for ref in decoded if isinstance(ref, EventRef)]


async def _events_in_history(client: Client, run_id: str) -> tuple[list[EventRef], list[bytes]]:
    """The events a run's history holds (its start's trigger, its signals) as the stack's client
    reads them, and every payload of the history opened by the codec (to look for the values)."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    refs: list[EventRef] = []
    opened: list[bytes] = []
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            opened += [p.data for p in await codec.decode(payloads)]
            (cohort_input,) = await client.data_converter.decode(payloads)
            refs.append(EventRef.model_validate(cohort_input["trigger"]))
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payloads = list(event.workflow_execution_signaled_event_attributes.input.payloads)
            opened += [p.data for p in await codec.decode(payloads)]
            refs += await _refs(client, payloads)
    return refs, opened


async def test_a_members_reply_and_profile_reach_cohort_runs_without_their_personal_fields(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    customer, premise = f"c-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    await registry.publish(engine, REPLY_POLL, "reply_poll.yaml", None)
    await registry.publish(engine, PREMISE_WATCH, "premise_watch.yaml", None)
    store = EventStore(engine)
    reply = {"channel": "sms", "body": REPLY, "keyword": "YES"}
    profile = {"name": NAME, "phone": PHONE, "email": EMAIL, "premise_id": premise}
    await store.append(
        [
            new_event("customer.created", customer, profile),
            new_event("outage.reported", customer, {"channel": "sms", "premise_id": premise}, minute=1),
            new_event("message.received", customer, reply, minute=2),
            new_event("customer.updated", customer, {**profile, "name": NAME.upper()}, minute=3),
        ]
    )
    await ProjectionRunner(engine).catch_up()
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    await router.handle(await store.read_after(0))  # opened: the router sees the values
    assert (router.started, router.signalled) == (2, 2)
    try:
        replies, reply_payloads = await _events_in_history(client, "cohort:reply_poll:sms")
        profiles, profile_payloads = await _events_in_history(client, f"cohort:premise_watch:{premise}")
        assert [ref.type for ref in replies] == ["outage.reported", "message.received"]
        assert [ref.type for ref in profiles] == ["customer.created", "customer.updated"]
        # what the runs read is there: the reply's keyword, the premise
        assert replies[1].payload["keyword"] == "YES" and "body" not in replies[1].payload
        for ref in profiles:
            assert ref.payload["premise_id"] == premise
            assert not {"name", "phone", "email"} & set(ref.payload), ref.payload
        for data in reply_payloads + profile_payloads:
            for secret in (REPLY, NAME, NAME.upper(), PHONE, EMAIL):
                assert secret.encode() not in data, secret
    finally:
        for run_id in ("cohort:reply_poll:sms", f"cohort:premise_watch:{premise}"):
            await client.get_workflow_handle(run_id).terminate("test over")


# A run per channel for a program's members: ask, then thank them once a member replies YES.
ASK_AND_THANK = """
id: ask_and_thank
mode: cohort
purpose: informational
trigger: {event: outage.reported}
cohort:
  key: event.channel
  audience: {program: "'ptr'"}
steps:
  - id: ask
    send: {channels: [sms], template: ask}
  - id: await_reply
    wait_for: {event: message.received, timeout: 2d, when: "event.keyword == 'YES'", on_timeout: end}
  - id: thanks
    send: {channels: [sms], template: thanks}
"""


async def test_a_run_still_hears_the_reply_it_waits_for_without_its_body(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    members = [member.customer_id for member in await cohorts.add_customers(engine, 2, program="ptr")]
    await registry.publish(engine, ASK_AND_THANK, "ask_and_thank.yaml", None)
    store = EventStore(engine)
    router = EventRouter(
        engine, client, task_queue=cohorts.TASK_QUEUE, send_task_queue=cohorts.SEND_TASK_QUEUE
    )
    sends = cohorts.RecordingSends(engine)
    async with cohorts.cohort_workers(client, engine, sends, tmp_path):
        await store.append([new_event("outage.reported", members[0], {"channel": "email"})])
        await ProjectionRunner(engine).catch_up()
        await router.handle(await store.read_after(0))
        try:
            await sends.until_sent("ask", 2)
            reply = {"channel": "email", "body": REPLY, "keyword": "YES"}
            await store.append([new_event("message.received", members[1], reply, minute=1)])
            await ProjectionRunner(engine).catch_up()
            await router.handle((await store.read_after(0))[-1:])
            await sends.until_sent("thanks", 2)
        finally:
            with contextlib.suppress(RPCError):  # completed once both are thanked
                await client.get_workflow_handle("cohort:ask_and_thank:email").terminate("test over")
    assert sends.to("ask") == sends.to("thanks") == members
    _, opened = await _events_in_history(client, "cohort:ask_and_thank:email")
    assert all(REPLY.encode() not in data for data in opened)
