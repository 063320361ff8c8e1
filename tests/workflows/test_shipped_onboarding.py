"""The shipped onboarding journey (journeys/onboarding.yaml) on the time-skipping server with the
in-memory stand-ins: who turned texts on at sign-up is welcomed and left alone; the others are invited
once, and only an SMS consent answers the invitation (a wait_for also takes the events of its type
that arrived before it, such as an email consent given at sign-up)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.functions import history_key
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, CustomerContext
from tests.workflows.helpers import finish, skip_to, start
from tests.workflows.standins import StandIns, compiled, event

ONBOARDING = (Path(__file__).resolve().parents[2] / "journeys" / "onboarding.yaml").read_text()
TEXTING = history_key("consent.changed", "event.granted and event.channel == 'sms'")


def sent_templates(standins: StandIns, customer_id: str) -> list[str]:
    return [send.template for send in standins.sends if send.customer_id == customer_id]


async def test_who_turned_texts_on_at_sign_up_is_not_invited(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    journey = compiled(ONBOARDING)
    now = await env.get_current_time()
    customer = CustomerContext(customer_id="texting", last_seen={TEXTING: now})
    standins.customers["texting"] = customer
    handle = await start(env, journey, "texting", event("customer.created", "texting", now))
    assert (await finish(env, handle)).status == "completed"
    assert sent_templates(standins, "texting") == ["welcome"]
    assert ("already_texting", "done") in standins.steps()


async def test_an_email_consent_from_sign_up_does_not_answer_the_invitation(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    journey = compiled(ONBOARDING)
    now = await env.get_current_time()
    standins.customers["emailing"] = CustomerContext(customer_id="emailing", last_seen={})
    handle = await start(env, journey, "emailing", event("customer.created", "emailing", now))
    by_email = {"channel": "email", "purpose": "informational", "granted": True}
    await handle.signal(JOURNEY_EVENT_SIGNAL, event("consent.changed", "emailing", now, **by_email))
    await skip_to(env, handle, "await_answer")
    assert (await finish(env, handle)).status == "completed"  # no answer: the invitation timed out
    sent = sent_templates(standins, "emailing")
    assert sent[:2] == ["welcome", "alerts_invite"] and "alerts_confirmed" not in sent
    assert ("await_answer", "timeout") in standins.steps()
