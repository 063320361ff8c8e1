"""`gridjourney bench ...`: the benchmarks in the checkout's bench/ folder (they are not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Run benchmarks: figures are printed and saved under bench/results/.")

CHECKOUT = Path(__file__).resolve().parents[2]


def _run_module(module: str, *args: str) -> None:
    if not (CHECKOUT / "bench" / "__init__.py").exists():
        raise typer.BadParameter(f"the benchmarks live in a checkout's bench/ folder; none at {CHECKOUT}")
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=CHECKOUT, check=False)
    raise typer.Exit(result.returncode)


@bench_app.command()
def journeys(
    count: Annotated[int, typer.Option("--journeys", min=10, help="Workflows per variant.")] = 300,
) -> None:
    """Journey throughput of the interpreter beside a hand-written workflow doing the same activities."""
    _run_module("bench.journeys", "--journeys", str(count))


@bench_app.command()
def scoring() -> None:
    """Anomaly scan (10,000 meters x 90 days), LightGBM scoring (1,000,000 customers) and segmentation
    (1,200,000 load shapes), each beside a simple baseline; a few minutes and ~2 GB of memory."""
    _run_module("bench.scoring")


@bench_app.command()
def chaos(
    trials: Annotated[int, typer.Option(min=1, help="Trials; every second one aims its kills.")] = 4,
    messages: Annotated[int, typer.Option(min=2, help="Messages per trial.")] = 60,
    customers: Annotated[int, typer.Option(min=1, help="Customers the messages go to.")] = 20,
    kills: Annotated[int, typer.Option(min=0, help="SIGKILLs of the send worker per trial.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the random kill moments.")] = 7,
) -> None:
    """The send ledger under SIGKILL: journeys send through a send worker of its own that is killed and
    restarted (half the trials at random moments, half while a ledger row is held); prints duplicates,
    lost and ambiguous messages (goal: 0 duplicates, 0 lost). Exits 1 if any was doubled or lost."""
    _run_module(
        "bench.chaos",
        *("--trials", str(trials), "--messages", str(messages), "--customers", str(customers)),
        *("--kills", str(kills), "--seed", str(seed)),
    )


@bench_app.command()
def cohort(
    members: Annotated[int, typer.Option(min=10, help="Members of the cohort run.")] = 100_000,
    slice_: Annotated[
        int, typer.Option("--slice", min=1, help="Customers of the per-customer path beside it.")
    ] = 2_000,
    rate_members: Annotated[int, typer.Option(min=10, help="SMS-only members of the rate run.")] = 3_000,
    sms_rate: Annotated[float, typer.Option(min=1, help="Configured SMS/s of the rate run.")] = 100.0,
    kill_members: Annotated[int, typer.Option(min=10, help="Members of the SIGKILL run.")] = 10_000,
    kills: Annotated[int, typer.Option(min=1, help="SIGKILLs of the send worker in that run.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the kill moments.")] = 7,
    skip_rate: Annotated[bool, typer.Option("--skip-rate", help="No rate-limit run.")] = False,
    skip_kill: Annotated[bool, typer.Option("--skip-kill", help="No SIGKILL run.")] = False,
    standins: Annotated[
        str, typer.Option(help="Serve the provider stand-ins from a `child` process or `inline`.")
    ] = "child",
    send_workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="`gridjourney worker --queues send` processes serving the send queue of both paths "
            "(0: the benchmark's own process).",
        ),
    ] = 2,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="Save a cProfile (CPU time) of the benchmark's process during the cohort path here, "
            "and one per send worker beside it (NAME-send-N.prof).",
        ),
    ] = None,
) -> None:
    """A DR day-ahead notice to 100,000 members through the cohort path beside a per-customer slice
    (msg/s, ratio, time to the last message, peak memory, provider requests), the SMS rate limit with
    two send workers, and a SIGKILL of the send worker mid-step (duplicates, lost). About 10 minutes;
    try `--members 5000 --slice 200 --rate-members 300 --kill-members 1000` first."""
    args = ["--members", str(members), "--slice", str(slice_), "--rate-members", str(rate_members)]
    args += ["--sms-rate", str(sms_rate), "--kill-members", str(kill_members), "--kills", str(kills)]
    args += ["--seed", str(seed), "--standins", standins, "--send-workers", str(send_workers)]
    args += [] if profile is None else ["--profile", str(profile.resolve())]
    args += ["--skip-rate"] * skip_rate + ["--skip-kill"] * skip_kill
    _run_module("bench.cohort", *args)


@bench_app.command("dr-target")
def dr_target(
    step: Annotated[
        str, typer.Argument(help="`seed` the customers and reads, then `resolve` in a new process.")
    ],
    customers: Annotated[int, typer.Option(min=1, help="Customers enrolled by `seed`.")] = 100_000,
    days: Annotated[
        int, typer.Option(min=1, help="Days of hourly reads `seed` writes before the event.")
    ] = 21,
    target_kw: Annotated[
        float, typer.Option(min=0.1, help="The event's kW target for `resolve`.")
    ] = 20_000.0,
) -> None:
    """The DR target audience over a 100,000-customer program beside the plain program audience:
    members, expected kW, seconds and peak memory (set GRIDJOURNEY_HOME to a scratch home)."""
    if step not in ("seed", "resolve"):
        raise typer.BadParameter("seed or resolve", param_hint="STEP")
    args = ["--customers", str(customers), "--days", str(days), "--target-kw", str(target_kw)]
    _run_module("bench.dr_target", step, *args)


@bench_app.command()
def ingest(
    seconds: Annotated[float, typer.Option(min=0.5, help="Measured seconds per mode and variant.")] = 10.0,
    workers: Annotated[str, typer.Option(help="uvicorn worker counts of the API process, e.g. 1,2.")] = "1,2",
    profile: Annotated[
        Path | None, typer.Option(help="cProfile the first API process; stats saved as PROFILE.<pid>.")
    ] = None,
) -> None:
    """POST /v1/events throughput, batches of 1,000 and single events, against the API as its own
    uvicorn process: events/s, requests/s, p50/p99 latency and CPU seconds per process."""
    args = ["--seconds", str(seconds), "--workers", workers]
    _run_module("bench.ingest", *args, *([] if profile is None else ["--profile", str(profile.resolve())]))


@bench_app.command()
def latency(
    rate: Annotated[float, typer.Option(min=0.1, help="Events posted per second.")] = 20.0,
    seconds: Annotated[float, typer.Option(min=0.5, help="Seconds of posting.")] = 60.0,
    layout: Annotated[
        str,
        typer.Option(
            help="production: the API, a worker and a router as processes; embedded: the workers and "
            "the router in one process, as `gridjourney run`.",
        ),
    ] = "production",
) -> None:
    """POST /v1/events -> SMS at the stand-in at a fixed rate: p50/p90/p99 from the stand-in's receive
    times, for a journey whose first step sends an SMS."""
    _run_module("bench.latency", "--rate", str(rate), "--seconds", str(seconds), "--layout", layout)
