"""A later outage report joins the running outage run, end to end: reports posted to the API, folded
by the outages projection (deduplication by overlap, a second report of the same incident id widening
it), routed to the live CohortWorkflow as a signal, ADD_MEMBERS, and the Twilio stand-in. Real
Postgres, the Temporal dev server, the stack's workers, projections and router (tests/stack.py).

The outage notice is published without its 5-minute hold (tests/integration/cohort_journeys.py): the
dev server runs in real time."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_members, cohort_runs
from gridjourney.dsl import registry
from tests.integration.cohort_journeys import OUTAGE_NOTICE, outage_notice_without_hold
from tests.stack import ApiStack, api_stack, eventually

RUN = "cohort:outage_notice:inc-1"
# customer -> (phone, premise, transformer)
CUSTOMERS = {
    "c-first": ("+15035550161", "P-1", "T-1"),
    "c-overlap": ("+15035550162", "P-2", "T-2"),
    "c-widened": ("+15035550163", "P-3", "T-3"),
    "c-elsewhere": ("+15035550164", "P-4", "T-4"),
}
DETECTED = "we know about the power outage"
RESTORED = "power has been restored"


@pytest.fixture
async def stack(engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment) -> AsyncIterator[ApiStack]:
    async with api_stack(engine, temporal_dev_env.client) as running:
        await registry.publish(
            engine, outage_notice_without_hold(), str(OUTAGE_NOTICE), running.running.settings.templates_dir
        )
        yield running


def _event(kind: str, customer_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "oms",
        "payload": payload,
    }


async def _post(stack: ApiStack, *events: dict[str, Any]) -> None:
    response = await stack.http.post("/v1/events", json={"events": list(events)}, headers=stack.admin)
    assert response.status_code == 201, response.text


def _texts(stack: ApiStack, phrase: str) -> Counter[str]:
    """How many texts containing `phrase` each customer received."""
    by_phone = {phone: customer for customer, (phone, _, _) in CUSTOMERS.items()}
    return Counter(by_phone[m.to] for m in stack.standin.received if phrase in m.body)


async def _members(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cohort_members.c.customer_id, cohort_members.c.step_id).where(
                cohort_members.c.run_id == RUN
            )
        )
        return {row.customer_id: row.step_id for row in rows}


async def test_later_reports_join_the_running_outage_run_and_each_premise_is_told_once(
    stack: ApiStack, engine: AsyncEngine
) -> None:
    await _post(
        stack,
        *(
            _event(
                "customer.created",
                customer,
                {"name": customer, "phone": phone, "premise_id": premise, "transformer_id": transformer},
            )
            for customer, (phone, premise, transformer) in CUSTOMERS.items()
        ),
    )
    await _post(stack, _event("outage.detected", None, {"incident_id": "inc-1", "premise_ids": ["P-1"]}))

    async def first_told() -> bool:
        return _texts(stack, DETECTED) == Counter({"c-first": 1})

    await eventually(first_told, "the first report's premise is told")

    # A second incident id overlapping the first (P-1 in common) is the same outage: its new premise
    # joins the live run. Then the OMS sends the first incident again, wider (a new premise, P-3).
    await _post(
        stack, _event("outage.detected", None, {"incident_id": "inc-2", "premise_ids": ["P-1", "P-2"]})
    )

    async def overlap_told() -> bool:
        return _texts(stack, DETECTED) == Counter({"c-first": 1, "c-overlap": 1})

    await eventually(overlap_told, "the overlapping report's new premise joins and is told")
    await _post(
        stack, _event("outage.detected", None, {"incident_id": "inc-1", "premise_ids": ["P-1", "P-3"]})
    )

    async def widened_told() -> bool:
        return _texts(stack, DETECTED) == Counter({"c-first": 1, "c-overlap": 1, "c-widened": 1})

    await eventually(widened_told, "the widened incident's new premise joins and is told")
    # The same report delivered again (a new event id) adds nobody and tells nobody twice.
    await _post(
        stack, _event("outage.detected", None, {"incident_id": "inc-2", "premise_ids": ["P-1", "P-2"]})
    )

    async with engine.connect() as conn:
        runs = (await conn.execute(select(cohort_runs.c.run_id))).scalars().all()
    assert runs == [RUN]  # one run for the one outage: the second incident id started none
    assert set(await _members(engine)) == {"c-first", "c-overlap", "c-widened"}

    await _post(
        stack,
        _event(
            "outage.restored", None, {"incident_id": "inc-1", "restored_at": datetime.now(UTC).isoformat()}
        ),
    )

    async def everyone_restored() -> bool:
        members = await _members(engine)
        return _texts(stack, RESTORED) == Counter(list(members)) and set(members.values()) == {None}

    await eventually(everyone_restored, "every member is told the power is back, and finishes")
    assert _texts(stack, DETECTED) == Counter({"c-first": 1, "c-overlap": 1, "c-widened": 1})
    assert "c-elsewhere" not in _texts(stack, "Cascade Power")


# The longest id the door admits, of characters a run id, a ledger key and a URL treat specially.
ODD_INCIDENT = ("Ünïcode/incident:with spaces & 'quotes' %2F \"\\\" 🌩️ " * 3)[:100]


async def test_an_incident_id_of_odd_characters_makes_one_run_that_members_join(
    stack: ApiStack, engine: AsyncEngine
) -> None:
    await _post(
        stack,
        *(
            _event("customer.created", customer, {"name": customer, "phone": phone, "premise_id": premise})
            for customer, (phone, premise, _) in list(CUSTOMERS.items())[:2]
        ),
    )
    await _post(stack, _event("outage.detected", None, {"incident_id": ODD_INCIDENT, "premise_ids": ["P-1"]}))

    async def first_told() -> bool:
        return _texts(stack, DETECTED) == Counter({"c-first": 1})

    await eventually(first_told, "the odd incident's premise is told")
    wider = {"incident_id": ODD_INCIDENT, "premise_ids": ["P-1", "P-2"]}
    await _post(stack, _event("outage.detected", None, wider))

    async def joined() -> bool:
        return _texts(stack, DETECTED) == Counter({"c-first": 1, "c-overlap": 1})

    await eventually(joined, "the wider report's premise joins the odd incident's run")
    async with engine.connect() as conn:
        runs = (await conn.execute(select(cohort_runs.c.run_id, cohort_runs.c.cohort_key))).all()
    assert [tuple(run) for run in runs] == [(f"cohort:outage_notice:{ODD_INCIDENT}", ODD_INCIDENT)]
