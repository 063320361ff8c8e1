"""A send renders from the templates its run's journey version pinned when published (dsl/registry.py,
content/pinned.py), not from the folder as it is when the message goes out: a template edited while a
run waits reaches only the version published after the edit. The journey workflow runs on the
time-skipping Temporal server with the real activities over Postgres and the Twilio stand-in; the
cohort batch path is run on its activity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.activities import JourneyActivities
from gridjourney.activities.send_batch import CohortSending
from gridjourney.channels.base import Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.content.pinned import PinnedTemplates
from gridjourney.devstack import register_search_attributes
from gridjourney.dsl import registry
from gridjourney.dsl.schema import Channel
from gridjourney.workflows.journey import JourneyWorkflow
from tests.activities.cohort_fixtures import SMS_OK, Person, add_members, add_people, batch_input
from tests.activities.conftest import add_customer
from tests.activities.test_send import ALL_PURPOSES
from tests.workflows.helpers import finish, start, waiting_at
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, event

JOURNEY = """\
id: pinned_alert
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - {id: pause, wait: 1d}
  - id: alert
    send: {channels: [sms], template: high_bill}
"""
EDITED = "Edited: {{ customer.name }}, about ${{ event.projected_amount }}. Reply STOP to opt out."


@asynccontextmanager
async def workers(env: WorkflowEnvironment, activities: JourneyActivities) -> AsyncIterator[None]:
    await register_search_attributes(env.client)
    async with (
        Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[JourneyWorkflow],
            activities=activities.journey_activities,
        ),
        Worker(env.client, task_queue=SEND_TASK_QUEUE, activities=activities.send_activities),
    ):
        yield


async def test_a_running_run_sends_its_versions_text_after_the_template_is_edited(
    engine: AsyncEngine,
    time_skipping_env: WorkflowEnvironment,
    activities: JourneyActivities,
    standin: TwilioStandIn,
    templates_dir: Path,
) -> None:
    env = time_skipping_env
    await add_customer(engine, "c-v1", phone="+15035550101", name="Ana", consent=ALL_PURPOSES)
    await add_customer(engine, "c-v2", phone="+15035550102", name="Ben", consent=ALL_PURPOSES)
    await registry.publish(engine, JOURNEY, "pinned_alert.yaml", templates_dir)
    first = await registry.get(engine, "pinned_alert", 1)
    assert first is not None
    async with workers(env, activities):
        trigger = event("bill.projection_updated", "c-v1", projected_amount=212.4, typical_amount=138.0)
        running = await start(env, first, "c-v1", trigger)
        await waiting_at(running, "pause")

        # the template is edited while the run waits, and the journey published again
        (templates_dir / "sms/en/high_bill.j2").write_text(EDITED, encoding="utf-8")
        second = await registry.publish(engine, JOURNEY, "pinned_alert.yaml", templates_dir)
        assert (second.version, second.created, second.templates.changed) == (
            2,
            True,
            ["sms/en/high_bill.j2"],
        )

        assert (await finish(env, running)).status == "completed"
        [old] = standin.received
        assert old.to == "+15035550101"
        assert old.body == "Hi Ana, your bill may reach $212.4. Reply STOP to opt out."

        # a run of version 2 sends the edited text
        latest = await registry.latest(engine, "pinned_alert")
        assert latest is not None and latest.version == 2
        trigger = event("bill.projection_updated", "c-v2", projected_amount=99.5, typical_amount=80.0)
        assert (await finish(env, await start(env, latest, "c-v2", trigger))).status == "completed"
        new = standin.received[-1]
        assert (new.to, new.body) == ("+15035550102", "Edited: Ben, about $99.5. Reply STOP to opt out.")


async def test_a_workers_templates_are_read_once_per_version(
    engine: AsyncEngine, activities: JourneyActivities, templates_dir: Path
) -> None:
    await registry.publish(engine, JOURNEY, "pinned_alert.yaml", templates_dir)
    await registry.publish(engine, JOURNEY.replace("pinned_alert", "unpinned"), "unpinned.yaml", None)
    versions = activities.sending.version_templates
    pinned = await versions.of("pinned_alert", 1)
    assert isinstance(pinned, PinnedTemplates) and "sms/en/high_bill.j2" in pinned
    assert await versions.of("pinned_alert", 1) is pinned  # its compiled templates are kept with it
    # a version that pinned nothing (published before pinning) renders from the folder
    assert await versions.of("unpinned", 1) == templates_dir


async def test_a_cohort_batch_sends_its_versions_text(
    engine: AsyncEngine,
    activities: JourneyActivities,
    senders: dict[Channel, Sender],
    standin: TwilioStandIn,
    templates_dir: Path,
) -> None:
    # the batch's input names journey `dr_event` version 1 (cohort_fixtures.batch_input)
    await registry.publish(
        engine, JOURNEY.replace("pinned_alert", "dr_event"), "dr_event.yaml", templates_dir
    )
    (templates_dir / "sms/en/high_bill.j2").write_text(EDITED, encoding="utf-8")
    members = [Person(f"m-{i}", phone=f"+1503555012{i}", consent=SMS_OK) for i in range(3)]
    await add_people(engine, members)
    await add_members(engine, members)
    cohort = CohortSending(activities.sending, ProviderCalls(senders, concurrency={"sms": 2}), chunk_size=2)
    outcome = await cohort.send_batch(batch_input(len(members)))
    assert outcome.counts.get("sent") == 3, outcome
    assert (
        sorted(message.body for message in standin.received)
        == ["Hi Ana, your bill may reach $182. Reply STOP to opt out."] * 3
    )
