"""The cohort benchmark's customers, written straight into the projection tables, are what the
benchmark says they are: eligibility (the real rules, the all-day policy) sends each member the
notice by the channel of the stated mix, at any hour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.cohort_seed import Population, PushEndpoint, all_day_policy, push_customers, seed
from gridjourney.activities import eligibility
from gridjourney.activities.context import CustomerRecord
from gridjourney.policy.loader import load_policy
from gridjourney.projections.queries import get_customers
from gridjourney.workflows.contracts import SendMessageInput


async def test_seeded_members_are_sent_the_notice_by_the_channel_of_the_mix(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    cohort = Population("ptr", 200, "ptr")
    sms_only = Population("rate", 30, "ptr-rate", sms_only=True)
    endpoints = [
        PushEndpoint(f"https://push.example/push/{n}", f"p256dh-{n}", f"auth-{n}")
        for n in range(push_customers([cohort, sms_only]))
    ]
    seed(database_url, [cohort, sms_only], endpoints)
    policy = load_policy(all_day_policy(tmp_path))
    now = datetime.now(UTC)
    chosen: Counter[tuple[str, str | None]] = Counter()
    for population in (cohort, sms_only):
        ids = [population.customer_id(n) for n in range(population.count)]
        async with engine.connect() as conn:
            views = await get_customers(conn, ids)
            facts = await eligibility.gather_many(conn, policy, ids, "informational", now)
        for n, customer_id in enumerate(ids):
            request = SendMessageInput(
                idempotency_key=f"k:{customer_id}",
                customer_id=customer_id,
                journey_id="bench_dr_notice",
                journey_version=1,
                instance_id="run",
                step_id="day_ahead_notice",
                channels=["push", "sms", "email"],
                template="dr_day_ahead",
                purpose="informational",
            )
            customer = CustomerRecord.model_validate(views[customer_id].model_dump())
            decision = eligibility.judge(
                policy, customer, request, ["sms", "email", "push"], now, facts[customer_id]
            )
            assert decision.deferred_until is None  # sendable around the clock
            chosen[(population.channel(n), decision.channel)] += 1
    assert all(expected == got for expected, got in chosen)
    assert sum(chosen.values()) == 230
    mix = cohort.mix()
    assert mix == {"push": 40, "sms": 30, "email": 130}
    assert sms_only.mix() == {"sms": 30}
