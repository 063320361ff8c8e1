"""The erasure test's view of the whole schema: which tables name customers, which of them may still
name an erased one (and why), and the rows that put a customer in every such table."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import metadata, routed_instances
from gridjourney.dr.performance import MemberPerformance
from gridjourney.dr.queries import record_imported_run, upsert_performance
from gridjourney.events.store import EventStore
from gridjourney.projections.suppressions import suppression_added
from tests.events.builders import new_event

# The tables that name erased customers only (the erasure writes their rows): checked after it.
ERASED_ONLY = ("temporal_erasures",)
# Every other table with a customer id column: the scenario puts each customer in all of them.
NAMING_CUSTOMERS = tuple(
    table.name
    for table in metadata.sorted_tables
    if "customer_id" in table.c and table.name not in ERASED_ONLY
)

# The tables that may still name an erased customer by id, and why: each holds no personal value (the
# dump test looks for those), only what the engine must keep about the id. A new table that names
# customers must be erased (privacy/erasure.py, or its projection's customer.erased) or be listed here
# with its reason.
KEEP_THE_ID = {
    "events": "the log is not rewritten: their events stay, personal fields sealed under a destroyed key",
    "customers": "the erased row: erased_at and grid ids, no profile, no attributes",
    "customer_keys": "the destroyed key's row: when they were erased, so nothing about them is accepted",
    "consents": "channel, purpose, granted and how: what consent was given and withdrawn",
    "messages": "status and ids of each message, its provider's reason cleared",
    "send_ledger": "idempotency keys: a retried send never goes twice",
    "outbox_messages": "the key of each dev outbox copy; recipient, subject and body erased",
    "journey_instances": "each journey instance's status and steps (its Temporal execution is deleted)",
    "routed_instances": "the router's record of the instances it started",
    "cohort_members": "membership of a cohort run: its premise, step and holdout flag",
    "temporal_erasures": "when they were erased and whether their workflow executions are deleted yet",
}

ENDPOINT = "https://push.example.net/send/"  # + the customer id: a browser's push endpoint
DR_RUN = "cohort:dr_event:PTR-7"


async def tables_naming(engine: AsyncEngine, customer_id: str) -> dict[str, int]:
    """Every table of the schema with rows that name the customer id in any column: how many."""
    found: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            named = sum(customer_id in str(tuple(row)) for row in await conn.execute(select(table)))
            if named:
                found[table.name] = named
    return found


async def everything_else(
    engine: AsyncEngine, store: EventStore, customer_ids: list[str], phones: dict[str, str]
) -> None:
    """A consent, a STOP, a push subscription, a program enrolment, an instance the router started
    and the figures of a DR event's run for each customer."""
    await store.append(
        [
            event
            for customer_id in customer_ids
            for event in (
                new_event(
                    "consent.changed",
                    customer_id,
                    {"channel": "sms", "purpose": "informational", "granted": True, "method": "web"},
                ),
                suppression_added(
                    customer_id, "sms", phones[customer_id], "stop_reply", "twilio", uuid.uuid4()
                ),
                new_event(
                    "push.subscribed",
                    customer_id,
                    {"endpoint": ENDPOINT + customer_id, "p256dh": "BKey", "auth": "auth1"},
                ),
                new_event("program.enrolled", customer_id, {"program": "ptr"}),
            )
        ]
    )
    run = {
        "run_id": DR_RUN,
        "journey_id": "dr_event",
        "version": 1,
        "cohort_key": "PTR-7",
        "trigger_event_id": uuid.uuid4(),
        "status": "completed",
        "members": len(customer_ids),
    }
    members = [
        {"run_id": DR_RUN, "customer_id": customer_id, "member_no": n, "premise_id": f"premise-{n}"}
        for n, customer_id in enumerate(customer_ids)
    ]
    figures = [MemberPerformance(c, baseline_kwh=4.2, actual_kwh=2.9) for c in customer_ids]
    async with engine.begin() as conn:
        assert await record_imported_run(conn, run, members)
        await upsert_performance(conn, DR_RUN, "PTR-7", figures, credit_per_kwh=0.5)
        await conn.execute(
            insert(routed_instances),
            [
                {
                    "instance_id": f"high_bill:{customer_id}",
                    "journey_id": "high_bill",
                    "customer_id": customer_id,
                    "started_position": 1,
                }
                for customer_id in customer_ids
            ],
        )
