"""Cohort mode at utility scale: a DR day-ahead notice to 100,000 enrolled customers.

Real Postgres, the Temporal dev server and the provider stand-ins (Twilio, SendGrid, a Web Push
service) reached through the official clients; the production worker side (workers, projections,
router) in this process. In one run:
  1. throughput: the per-customer path (a one-step JourneyWorkflow per customer, started directly)
     on a `--slice` of other customers, then the cohort path: a dr.event_scheduled is appended, the
     router starts the CohortWorkflow, whose batches judge eligibility, render, claim the ledger and
     send. No rate limit, an all-day policy, caps never reached (one notice each). The send queue is
     served by `--send-workers` `gridjourney worker --queues send` processes (default 2, one per
     core; 0: by this process), the same for both paths. The CPU each process used during the
     cohort path is printed per message;
  2. rate: `--rate-members` SMS-only members at a configured `--sms-rate` SMS/s, sent by two
     `gridjourney worker --queues send` processes sharing the rate limit;
  3. kill: `--kill-members` members, the send worker (its own process) SIGKILLed mid-step and
     restarted; duplicates and lost messages counted from the stand-ins and the ledger.
The customers are written straight into the projection tables (bench/cohort_seed.py: the channel mix).

    gridjourney bench cohort [--members 100000] [--slice 2000] [--send-workers 2] [--skip-rate] ...
    gridjourney bench cohort --members 5000 --slice 200 --rate-members 300 --kill-members 1000  (a minute)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.cohort_runs import killed, rate_limited, throughput
from bench.cohort_seed import PUSH_SHARE, SMS_SHARE, Population, journeys
from bench.cohort_stack import CHECKOUT, bench_servers
from bench.saving import save, stamped

RESULTS_DIR = Path(__file__).parent / "results"
GOAL_SECONDS_PER_100K = 60.0
GOAL_MSG_PER_SECOND = 1700.0
GOAL_RATIO = 50.0
GOAL_RATE_DEVIATION = 5.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cohort = Population("ptr", args.members, "ptr", named=not args.no_names)
    per_customer = Population("one", args.slice, "ptr-slice")
    rate = Population("rate", 0 if args.skip_rate else args.rate_members, "ptr-rate", sms_only=True)
    kill = Population("kill", 0 if args.skip_kill else args.kill_members, "ptr-kill")
    populations = [cohort, per_customer, rate, kill]
    figures: dict[str, Any] = {
        "members": args.members,
        "channel_mix": cohort.mix(),
        "channel_mix_rule": f"{PUSH_SHARE:.0%} push app (+email), {SMS_SHARE:.0%} SMS-only, the rest email "
        "(a tenth of them with a phone but no SMS consent); notice tries push, SMS, email",
        "standins": "child process" if args.standins == "child" else "in-process",
        "customers_named": not args.no_names,
        "started_by": "router (dr.event_scheduled appended); per-customer slice: start_journey per customer",
    }
    seeded = time.perf_counter()
    async with bench_servers(populations, standins_in_child=args.standins == "child") as bench:
        figures["seed_seconds"] = round(time.perf_counter() - seeded, 1)
        _, per_customer_journey = journeys(CHECKOUT / "templates")
        figures |= await throughput(
            bench, cohort, per_customer, per_customer_journey, args.send_workers, args.profile
        )
        _print_throughput(figures)
        if not args.skip_rate:
            figures["rate"] = await rate_limited(bench, rate, args.sms_rate)
            _print_rate(figures["rate"])
        if not args.skip_kill:
            figures["kill"] = await killed(bench, kill, args.kills, args.seed)
            _print_kill(figures["kill"])
    return figures


def _print_throughput(figures: dict[str, Any]) -> None:
    c, p = figures["cohort"], figures["per_customer"]
    ratio = c["messages_per_second"] / p["messages_per_second"] if p["messages_per_second"] else float("nan")
    figures["ratio"] = round(ratio, 1)
    print(
        f"channel mix: {figures['channel_mix']} ({figures['channel_mix_rule']}); "
        f"stand-ins {figures['standins']}; send queue served by "
        + (f"{figures['send_workers']} send worker processes" if figures["send_workers"] else "this process")
    )
    print(
        f"{'path':<14}{'members':>9}{'messages':>10}{'s to last':>11}{'msg/s':>9}{'peak RSS MB':>13}"
        "  provider requests"
    )
    for name, f in (("per-customer", p), ("cohort", c)):
        print(
            f"{name:<14}{f['members']:>9}{f['messages']:>10}{f['seconds_to_last_message']:>11}"
            f"{f['messages_per_second']:>9}{f['peak_rss_mb']:>13}  {f['provider_requests']}"
        )
    scaled = c["seconds_to_last_message"] * 100_000 / max(c["members"], 1)
    print(
        f"cohort per channel: {c['per_channel']}  outcomes: {c['outcomes']}  router started the run after "
        f"{c['router_start_seconds']} s; projections caught up after "
        f"{c['projections_caught_up_seconds']} s  stand-ins CPU: {c['standins_cpu_seconds']} s "
        f"({c['standins_cpu_ms_per_request']} ms per request)"
    )
    print(f"cohort CPU seconds: {c['cpu_seconds']}; ms per message: {c['cpu_ms_per_message']}")
    print(f"Postgres per message (projections included): {c['postgres_per_message']}")
    print(f"  rows [inserted, updated, updated in place] by table: {c['postgres_table_writes_per_message']}")
    print(f"  rows [read by seq scans, fetched by index] by table: {c['postgres_table_reads_per_message']}")
    print(
        f"goals: 100,000 in <= {GOAL_SECONDS_PER_100K:.0f} s (>= {GOAL_MSG_PER_SECOND:.0f} msg/s): "
        f"{c['messages_per_second']} msg/s, {scaled:.1f} s per 100,000 -> "
        f"{'met' if c['messages_per_second'] >= GOAL_MSG_PER_SECOND else 'NOT met'};  "
        f">= {GOAL_RATIO:.0f}x per-customer: {ratio:.1f}x -> {'met' if ratio >= GOAL_RATIO else 'NOT met'}",
        flush=True,
    )


def _print_rate(r: dict[str, Any]) -> None:
    ok = abs(r["deviation_percent"]) <= GOAL_RATE_DEVIATION
    print(
        f"rate limit: {r['sms_received']} SMS by {r['send_workers']} send workers at a configured "
        f"{r['configured_sms_per_second']}/s: achieved {r['achieved_sms_per_second']}/s "
        f"({r['deviation_percent']:+} %; goal within {GOAL_RATE_DEVIATION:.0f} %: "
        f"{'met' if ok else 'NOT met'})",
        flush=True,
    )


def _print_kill(k: dict[str, Any]) -> None:
    ok = k["duplicates"] == 0 and k["lost"] == 0
    print(
        f"SIGKILL: {k['members']} members, {k['kills']} kills of the send worker (at ledger rows "
        f"{k['killed_at_ledger_rows']}), {k['seconds']} s: duplicates {k['duplicates']}, lost {k['lost']}, "
        f"held for an operator {k['held_not_received']} not received + {k['held_but_received']} received, "
        f"misrecorded {k['misrecorded']} (goal 0 duplicates, 0 lost: "
        f"{'met' if ok else 'NOT met'}); ledger {k['ledger']}",
        flush=True,
    )
    if k["duplicates"]:
        print(f"  duplicated by channel {k['duplicates_by_channel']}: {k['duplicated_keys']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000, help="members of the cohort run")
    parser.add_argument("--slice", type=int, default=2_000, help="customers of the per-customer path")
    parser.add_argument("--rate-members", type=int, default=3_000, help="SMS-only members of the rate run")
    parser.add_argument("--sms-rate", type=float, default=100.0, help="configured SMS/s of the rate run")
    parser.add_argument("--kill-members", type=int, default=10_000, help="members of the SIGKILL run")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs of the send worker in that run")
    parser.add_argument("--seed", type=int, default=7, help="seed of the kill moments")
    parser.add_argument("--skip-rate", action="store_true", help="no rate-limit run")
    parser.add_argument("--skip-kill", action="store_true", help="no SIGKILL run")
    parser.add_argument(
        "--standins",
        choices=("child", "inline"),
        default="child",
        help="serve the provider stand-ins from a child process (default) or this process",
    )
    parser.add_argument(
        "--no-names",
        action="store_true",
        help="cohort customers without a name: the email (which greets by name) is then the same for "
        "all, and SendGrid gets up to 1,000 of them per request",
    )
    parser.add_argument(
        "--send-workers",
        type=int,
        default=2,
        help="`gridjourney worker --queues send` processes serving the throughput phase's send queue "
        "(0: this process serves it)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="save a cProfile (CPU time) of this process during the cohort path here, and one per send "
        "worker beside it (NAME-send-N.prof)",
    )
    args = parser.parse_args(argv)
    if args.send_workers < 0:
        parser.error("--send-workers must be 0 or more")
    # uvloop, as the production worker and router processes run (gridjourney/worker.py): this process
    # hosts their side (workflows, projections, router) during the benchmark
    figures = uvloop.run(run(args))
    save(stamped(figures), RESULTS_DIR, "cohort")


if __name__ == "__main__":
    main()
