"""A consent change that did not apply moves nothing in a backtest, as in the engine (real Postgres and
the Temporal dev server for the engine's side).

After a STOP, a CRM grant dated before it arrives: the consents projection keeps the STOP and the
router routes the grant nowhere (tests/router/test_router_consent.py). The backtest replays in the
order things occurred, so it meets that grant before the STOP: it must still start nothing with it,
advance no wait_for and count no goal, and its customer must never read as granted."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.backtest.report import BacktestReport
from gridjourney.backtest.run import backtest
from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, JourneyState
from tests.events.builders import BASE_TIME, new_event
from tests.router.routers import router_on_test_queues
from tests.router.test_router import _entered_instances
from tests.router.test_router_consent import AWAIT_CONSENT, WINBACK, Routing, consent
from tests.workflows.standins import StandIns, running_workers

PERIOD = (BASE_TIME - timedelta(days=1), BASE_TIME + timedelta(days=1))


async def backtests(engine: AsyncEngine, policy: Policy) -> dict[str, BacktestReport]:
    reports = {}
    for journey_id in ("consent_winback", "await_consent"):
        compiled = await registry.latest(engine, journey_id)
        assert compiled is not None
        reports[journey_id] = await backtest(engine, compiled, policy, *PERIOD)
    return reports


async def test_a_late_grant_older_than_the_stop_moves_nothing_in_the_backtest_as_in_the_engine(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, policy: Policy
) -> None:
    client = temporal_dev_env.client
    customer = f"c-{uuid.uuid4().hex[:8]}"
    for source, name in ((WINBACK, "consent_winback.yaml"), (AWAIT_CONSENT, "await_consent.yaml")):
        await registry.publish(engine, source, name, None)
    router = router_on_test_queues(engine, client)
    routing = Routing(engine, router)
    standins = StandIns()
    arrivals: list[NewEvent] = [
        new_event("customer.created", customer, {"name": "Ana"}),
        consent(customer, False, 10, "sms_reply"),  # the STOP
        consent(customer, True, 5, "crm_sync"),  # the CRM catching up: older, arriving after
    ]
    async with running_workers(client, standins):
        for event in arrivals:
            await routing.route(event)
        [waiting] = await _entered_instances(customer, standins)
        state = await client.get_workflow_handle(waiting).query(JOURNEY_STATE_QUERY, result_type=JourneyState)

    # the engine: await_consent started and still waits; the winback never started
    assert (router.started, router.not_applied) == (1, 1)
    assert (state.current_step, state.waiting_for, state.converted) == ("ask", "consent.changed", False)

    reports = await backtests(engine, policy)
    winback, awaiting = reports["consent_winback"], reports["await_consent"]
    assert (winback.triggers_matched, winback.entered) == (0, 0)
    assert (awaiting.entered, awaiting.converted) == (1, 0)
    assert awaiting.steps["ask"].outcomes == {"timeout": 1}  # the grant never reached the wait_for


async def test_a_grant_after_the_stop_still_starts_and_advances_in_the_backtest(
    engine: AsyncEngine, policy: Policy
) -> None:
    """The other side: a grant dated after the STOP applied, so the backtest routes it (the router
    does too: tests/router/test_router_consent.py)."""
    customer = "c-later"
    for source, name in ((WINBACK, "consent_winback.yaml"), (AWAIT_CONSENT, "await_consent.yaml")):
        await registry.publish(engine, source, name, None)
    routing_log = [
        new_event("customer.created", customer, {"name": "Ana"}),
        consent(customer, False, 10, "sms_reply"),
        consent(customer, True, 5, "crm_sync"),
        consent(customer, True, 20, "web"),
    ]
    for event in routing_log:
        await EventStore(engine).append([event])
    reports = await backtests(engine, policy)
    winback, awaiting = reports["consent_winback"], reports["await_consent"]
    assert (winback.triggers_matched, winback.entered) == (1, 1)
    assert (awaiting.entered, awaiting.converted) == (1, 1)
    assert awaiting.steps["ask"].outcomes == {"event": 1}
