"""Record one workflow history per shipped journey, for the replay tests.

    .venv/bin/python -m tests.replay.record_histories               # every journey
    .venv/bin/python -m tests.replay.record_histories usage_spike   # only the named recordings

Each journey in journeys/ runs through the time-skipping test server along its most telling path
(waits, signals, branches), with the in-memory activity stand-ins of tests/workflows (the real
activities need Postgres and the SMS stand-in; replay needs only the history), and so do a few more
paths worth keeping (a send deferred by quiet hours, then sent; a send given up), and journeys of
tests/replay/journeys/ that use what the shipped ones do not (split `vars`, a conditional `exit_on`,
`waited_event`: budget_billing_ab; `wait: {after:}` and the date and history functions:
past_due_follow_up). The history is saved
as tests/replay/histories/steps-carry/<recording>.json: {"workflow_id": ..., "history": <history
JSON>}, its payloads sealed by the encryption codec under REPLAY_KEYRING (a key for these recordings
only).

Older sets stay, and replay, untouched: histories/pre-codec/ (recorded before the codec existed: the
codec passes unmarked payloads through), histories/encrypted/ (before quiet hours: the workflow
takes its pre-`quiet-hours-1` path for them), histories/quiet-hours/ (one RECORD_JOURNEY_EVENT
activity per journey event: the pre-`journey-events-in-step-1` path) and histories/events-in-step/
(the entry's LOAD_CONTEXT and the end's RECORD_JOURNEY_EVENTS: the pre-
`journey-context-and-exit-in-steps-1` path).

Re-record after publishing a journey's new shape; never after changing JourneyWorkflow itself: the
old histories are what prove a change of the interpreter is replay-safe (guard it with
`workflow.patched`, and record a new set in a new directory).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.devstack import register_search_attributes
from gridjourney.dsl.compiler import compile_journey, definition_hash
from gridjourney.dsl.loader import load_journey_file
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.privacy.keyring import Keyring
from gridjourney.temporal import encrypting_converter, test_server_path
from gridjourney.workflows.assignment import in_holdout
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, CustomerContext, JourneyState
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.helpers import finish, skip_to, start, waiting_at
from tests.workflows.standins import StandIns, event, running_workers

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS_DIR = ROOT / "journeys"
TEST_JOURNEYS_DIR = Path(__file__).resolve().parent / "journeys"  # recorded, not shipped
TEMPLATES_DIR = ROOT / "templates"
HISTORIES_ROOT = Path(__file__).resolve().parent / "histories"
PRE_CODEC_DIR = HISTORIES_ROOT / "pre-codec"  # issue 2, before the codec
ENCRYPTED_DIR = HISTORIES_ROOT / "encrypted"  # issue 2, sealed; before quiet hours
QUIET_HOURS_DIR = HISTORIES_ROOT / "quiet-hours"  # quiet hours; one activity per journey event
EVENTS_IN_STEP_DIR = HISTORIES_ROOT / "events-in-step"  # the entry's load, the end's own record
HISTORIES_DIR = HISTORIES_ROOT / "steps-carry"  # the current interpreter: where recordings go

# Not a secret: it seals only these recordings, so that the replay test can open them.
REPLAY_KEY = base64.b64decode("cmVwbGF5LWhpc3Rvcmllcy1rZXktMzItYnl0ZXMhISE=")
REPLAY_KEYRING = Keyring({"replay-1": REPLAY_KEY}, "replay-1")
REPLAY_CONVERTER = encrypting_converter(REPLAY_KEYRING)

Handle = WorkflowHandle[JourneyWorkflow, JourneyState]
Scenario = Callable[[WorkflowEnvironment, CompiledJourney], Awaitable[Handle]]
Preparation = Callable[[WorkflowEnvironment, StandIns], Awaitable[None]]


def customer_outside_holdout(journey: CompiledJourney) -> str:
    holdout = journey.definition.entry.holdout
    return next(f"cust-{n}" for n in range(1000) if not in_holdout(journey.journey_id, f"cust-{n}", holdout))


async def onboarding(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """Welcome, two days, 10:00 in Chicago, invite; the customer says yes by text (goal too)."""
    customer = customer_outside_holdout(journey)
    handle = await start(env, journey, customer, event("customer.created", customer))
    await skip_to(env, handle, "await_answer")
    consent = event("consent.changed", customer, channel="sms", purpose="informational", granted=True)
    await handle.signal(JOURNEY_EVENT_SIGNAL, consent)
    return handle


async def high_bill_alert(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """Alert, a saving during the pause (goal), then the DR offer for a likely responder."""
    customer = customer_outside_holdout(journey)
    projection = event(
        "bill.projection_updated", customer, projected_amount=182.0, typical_amount=120.0, days_left=12
    )
    handle = await start(env, journey, customer, projection)
    await skip_to(env, handle, "pause")  # through quiet hours, when the alert is deferred
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("usage.reduced", customer, kwh_saved=35.0, period_days=7))
    return handle


async def dr_event(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """Notice the day ahead, reminder an hour before the start, thank-you at the end."""
    customer = customer_outside_holdout(journey)
    now = await env.get_current_time()
    start_at, end_at = now + timedelta(days=1), now + timedelta(days=1, hours=3)
    scheduled = event(
        "dr.event_scheduled",
        customer,
        dr_event_id="dr-2025-07-14",
        program="peak_time_rewards",
        start=start_at.isoformat(),
        end=end_at.isoformat(),
        modification_number=0,
    )
    return await start(env, journey, customer, scheduled)


async def outage_notice(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """Detected, then restored within the first wait."""
    customer = customer_outside_holdout(journey)
    detected = event("outage.detected", customer, incident_id="inc-77", feeder="F12")
    handle = await start(env, journey, customer, detected)
    await waiting_at(handle, "await_restoration")
    await env.sleep(timedelta(hours=2))
    restored_at = (await env.get_current_time()).isoformat()
    restored = event("outage.restored", customer, incident_id="inc-77", restored_at=restored_at)
    await handle.signal(JOURNEY_EVENT_SIGNAL, restored)
    return handle


async def usage_spike(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """The short text, then the email with the days and what to check."""
    customer = customer_outside_holdout(journey)
    spike = event(
        "meter.anomaly_detected",
        customer,
        anomaly_type="step_increase",
        score=2.1,
        meter_id="M-1",
        description="Daily use 30.2 kWh against a usual 14.8 kWh for 3 days",
        days=["2025-03-18", "2025-03-19", "2025-03-20"],
    )
    return await start(env, journey, customer, spike)


async def rate_coach(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """The scoring's customer.updated with a tariff saving of $84 a year: the text, then the email."""
    customer = customer_outside_holdout(journey)
    scores = {
        "best_tariff": "residential_tou",
        "best_tariff_name": "Time of Use 4-9 PM",
        "best_tariff_savings": 84.0,
    }
    updated = event("customer.updated", customer, attributes={"scores": scores})
    return await start(env, journey, customer, updated)


async def budget_billing_ab(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """The invitation under the arm's subject; a past-due bill too recent to exit; the audit booked
    and confirmed; then a bill 40 days past due ends the run before the follow-up."""
    customer = customer_outside_holdout(journey)
    issued = event("bill.issued", customer, amount=182.0, due_date="2025-11-20")
    handle = await start(env, journey, customer, issued)
    await skip_to(env, handle, "await_audit")
    await handle.signal(
        JOURNEY_EVENT_SIGNAL, event("bill.past_due", customer, amount_due=182.0, days_past_due=5)
    )
    booked = event(
        "audit.booked", customer, audit_id="AU-17", scheduled_for="2025-11-24T15:00:00+00:00", kind="in_home"
    )
    await handle.signal(JOURNEY_EVENT_SIGNAL, booked)
    await skip_to(env, handle, "pause")
    await handle.signal(
        JOURNEY_EVENT_SIGNAL, event("bill.past_due", customer, amount_due=182.0, days_past_due=40)
    )
    return handle


async def past_due_follow_up(env: WorkflowEnvironment, journey: CompiledJourney) -> Handle:
    """Due four days ago: the wait ends ten days after the due date; no reminder in the last 30 days
    and no budget-billing run (the loaded facts), so the reminder goes."""
    customer = customer_outside_holdout(journey)
    due = await env.get_current_time() - timedelta(days=4)
    past_due = event("bill.past_due", customer, amount_due=96.5, days_past_due=4, due_date=due.isoformat())
    return await start(env, journey, customer, past_due)


SCENARIOS: dict[str, Scenario] = {
    "onboarding": onboarding,
    "high_bill_alert": high_bill_alert,
    "dr_event": dr_event,
    "outage_notice": outage_notice,
    "usage_spike": usage_spike,
    "rate_coach": rate_coach,
}


async def quiet_night(env: WorkflowEnvironment, standins: StandIns) -> None:
    """Triggered at night: the alert is deferred until the morning, then sent."""
    standins.quiet_until = await env.get_current_time() + timedelta(hours=10)


async def history_loaded(env: WorkflowEnvironment, standins: StandIns) -> None:
    """The customers' facts as LOAD_CONTEXT reads them: nothing in their history, the policy's zone."""
    for customer_id, context in standins.customers.items():
        standins.customers[customer_id] = context.model_copy(
            update={"last_seen": {}, "in_journeys": [], "local_zone": "America/Chicago"}
        )


async def provider_refuses(env: WorkflowEnvironment, standins: StandIns) -> None:
    """Every send fails for good: the journey records each as given up and goes on."""
    standins.send_error = "provider refused the message"


@dataclass(frozen=True)
class Recording:
    journey_id: str
    scenario: Scenario
    prepare: Preparation | None = None
    journeys_dir: Path = JOURNEYS_DIR  # a journey not shipped lives in tests/replay/journeys/


RECORDINGS: dict[str, Recording] = {
    **{journey_id: Recording(journey_id, scenario) for journey_id, scenario in SCENARIOS.items()},
    "high_bill_alert_deferred": Recording("high_bill_alert", high_bill_alert, quiet_night),
    "usage_spike_given_up": Recording("usage_spike", usage_spike, provider_refuses),
    "budget_billing_ab": Recording("budget_billing_ab", budget_billing_ab, journeys_dir=TEST_JOURNEYS_DIR),
    "past_due_follow_up": Recording(
        "past_due_follow_up", past_due_follow_up, history_loaded, journeys_dir=TEST_JOURNEYS_DIR
    ),
}


def shipped_journey(journey_id: str, journeys_dir: Path = JOURNEYS_DIR) -> CompiledJourney:
    definition = load_journey_file(journeys_dir / f"{journey_id}.yaml")
    # the test journeys' templates are not shipped (the stand-ins render nothing)
    templates = TEMPLATES_DIR if journeys_dir == JOURNEYS_DIR else None
    return compile_journey(
        definition, version=1, content_hash=definition_hash(definition), templates_dir=templates
    )


def standins_for(journey_id: str) -> StandIns:
    standins = StandIns()
    for n in range(1000):  # every candidate customer: in Chicago, a likely DR responder
        standins.customers[f"cust-{n}"] = CustomerContext(
            customer_id=f"cust-{n}",
            name="Ana Diaz",
            locale="es",
            time_zone="America/Chicago",
            attributes={"scores": {"dr_propensity": 0.8}},
        )
    return standins


async def record(name: str, env: WorkflowEnvironment) -> tuple[Path, JourneyState]:
    recording = RECORDINGS[name]
    standins = standins_for(recording.journey_id)
    if recording.prepare is not None:
        await recording.prepare(env, standins)
    async with running_workers(env.client, standins):
        handle = await recording.scenario(env, shipped_journey(recording.journey_id, recording.journeys_dir))
        final = await finish(env, handle)
        history = await handle.fetch_history()
    path = HISTORIES_DIR / f"{name}.json"
    document = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path, final


async def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(RECORDINGS))
    if unknown:
        raise SystemExit(f"no recording {', '.join(unknown)}; known: {', '.join(RECORDINGS)}")
    HISTORIES_DIR.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=REPLAY_CONVERTER, test_server_existing_path=str(test_server_path())
    )
    async with env:
        await register_search_attributes(env.client)
        for name in names or list(RECORDINGS):
            path, final = await record(name, env)
            steps = " → ".join(f"{step.step_id}({step.outcome})" for step in final.steps_taken)
            print(f"{name}: {final.status}; {steps}\n  saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
