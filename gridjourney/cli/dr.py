"""`gridjourney dr report EVENT_ID|--all [--plot FILE.png]`, `gridjourney dr import-lcl DIR` and
`gridjourney dr vtn-event`: the DR program manager's report, the London 2013 trial as DR events to
run it on, and a DR event sent by hand from the local OpenADR VTN."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridjourney.config import get_settings
from gridjourney.devstack import resolve_database_url

# pandas, matplotlib and the database driver are imported by the commands that use them, so that
# every other `gridjourney` command starts without them (as cli/models.py does).
if TYPE_CHECKING:
    from gridjourney.dr.lcl import LclImport
    from gridjourney.dr.pooled import PooledReport
    from gridjourney.dr.report import DrEventReport, EventData, Interval

dr_app = typer.Typer(help="Demand response: the event performance report.", no_args_is_help=True)
console = Console()


def _kw(value: Interval | None, per: str = "") -> str:
    if value is None:
        return "-"
    return f"{value.estimate:+.3f} [{value.low:+.3f}, {value.high:+.3f}]{per}"


def _baseline(kw: float | None) -> str:
    return f"{kw:.3f} kW per member" if kw is not None else "-"


def _share(count: int, of: int) -> str:
    return f"{count} of {of} ({count / of:.0%})" if of else f"{count} of 0"


def _print_event(report: DrEventReport) -> None:
    span = f"{report.start:%Y-%m-%d %H:%M}-{report.end:%H:%M} UTC"
    table = Table(title=f"DR event {report.dr_event_id} ({report.program}, {span}, {report.status})")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("members (treated / holdout)", f"{report.members} ({report.treated} / {report.holdout})")
    table.add_row("notified", str(report.notified))
    table.add_row("opted out during the run", str(report.opted_out))
    table.add_row("measured (treated / holdout)", f"{report.measured_treated} / {report.measured_holdout}")
    table.add_row("responded (treated)", _share(report.responded, report.measured_treated))
    table.add_row("holdout, by the same measure", _share(report.holdout_responded, report.measured_holdout))
    table.add_row("kW per member vs holdout", _kw(report.reduction_kw))
    table.add_row("kW per member below baseline", _kw(report.reduction_vs_baseline_kw))
    table.add_row("expected kW", f"{report.expected_kw:.1f}" if report.expected_kw is not None else "-")
    table.add_row("achieved kW (vs holdout)", _kw(report.achieved_kw))
    table.caption = f"reduction > 0: less load; [{report.confidence:.0%} bootstrap interval over customers]"
    console.print(table)
    hours = Table("hour (UTC)", "treated vs baseline kW", "holdout vs baseline kW", "reduction kW vs holdout")
    for hour in report.hours:
        holdout = f"{hour.holdout_kw:+.3f}" if hour.holdout_kw is not None else "-"
        hours.add_row(
            f"{hour.hour_start:%Y-%m-%d %H:%M}", f"{hour.treated_kw:+.3f}", holdout, _kw(hour.reduction_kw)
        )
    console.print(hours)
    segments = Table(
        "segment",
        "treated",
        "holdout",
        "responded",
        "holdout responded",
        "kW vs holdout",
        "kW below baseline",
    )
    for segment in report.segments:
        segments.add_row(
            segment.segment,
            str(segment.treated),
            str(segment.holdout),
            str(segment.responded),
            str(segment.holdout_responded),
            _kw(segment.reduction_kw),
            _kw(segment.reduction_vs_baseline_kw),
        )
    console.print(segments)


def _print_summary(reports: list[DrEventReport], pooled: PooledReport) -> None:
    table = Table(
        "event",
        "start (UTC)",
        "hours",
        "treated",
        "holdout",
        "responded",
        "holdout responded",
        "kW vs holdout",
        "kW below baseline",
    )
    for report in reports:
        table.add_row(
            report.dr_event_id,
            f"{report.start:%Y-%m-%d %H:%M}",
            str(len(report.hours)),
            str(report.measured_treated),
            str(report.measured_holdout),
            str(report.responded),
            str(report.holdout_responded),
            _kw(report.reduction_kw),
            _kw(report.reduction_vs_baseline_kw),
        )
    console.print(table)
    console.print(
        f"all {pooled.events} events, each treated against its own holdout, weighted by event hours "
        f"({pooled.treated} treated, {pooled.holdout} holdout, {pooled.both} on each side in "
        "different events):\n"
        f"  reduction against the holdout: {_kw(pooled.reduction_kw, ' kW per member')}\n"
        f"  reduction below own baseline:  {_kw(pooled.reduction_vs_baseline_kw, ' kW per member')}\n"
        f"  treated members' mean baseline: {_baseline(pooled.treated_baseline_kw)}\n"
        f"  ({pooled.confidence:.0%} bootstrap intervals over customers, {pooled.resamples} resamples)"
    )


@dr_app.command("report")
def report_command(
    event_id: Annotated[str | None, typer.Argument(help="The DR event id.")] = None,
    all_events: Annotated[
        bool, typer.Option("--all", help="Every DR event with a cohort run (of --program), pooled.")
    ] = False,
    program: Annotated[str | None, typer.Option(help="With --all: only this program's events.")] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", dir_okay=False, help="Draw treated vs holdout load to this PNG.")
    ] = None,
) -> None:
    """Members notified, opted out and responded; kW reduction per event hour against the holdout."""
    from gridjourney.db.engine import create_engine
    from gridjourney.dr.gather import UnknownDrEvent, event_ids_with_runs, gather
    from gridjourney.dr.plot import plot_event
    from gridjourney.dr.pooled import pooled_report
    from gridjourney.dr.report import build_report

    if (event_id is None) == (not all_events):
        raise typer.BadParameter("name one EVENT_ID, or --all")

    async def main() -> list[EventData]:
        settings = get_settings()
        engine = create_engine(resolve_database_url(settings), pool_size=2)
        try:
            ids = [event_id] if event_id is not None else await event_ids_with_runs(engine, program)
            return await gather(engine, ids, settings.holiday_calendar)
        finally:
            await engine.dispose()

    began = time.monotonic()
    try:
        datas = asyncio.run(main())
    except UnknownDrEvent as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    if not datas:
        console.print("no DR events with a cohort run")
        raise typer.Exit(1)
    reports = [build_report(data) for data in datas]
    if event_id is not None:
        _print_event(reports[0])
    else:
        _print_summary(reports, pooled_report(datas))
    if plot is not None and all(data.window.empty for data in datas):
        console.print(f"no reads cover the event window: {plot} not written")
    elif plot is not None:
        plot_event(datas, plot)
        console.print(f"plot written to {plot}")
    console.print(f"({time.monotonic() - began:.1f} s)")


@dr_app.command("import-lcl")
def import_lcl_command(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The lcl-2013 directory.")],
    first: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First event day.")
    ] = None,
    last: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last event day.")
    ] = None,
    homes: Annotated[
        int | None, typer.Option(min=1, help="Only the first N homes of each tariff (a quick look).")
    ] = None,
) -> None:
    """Load the London 2013 homes, their reads, and each High-price period as a DR event with a
    cohort run: time-of-use homes treated, flat-tariff homes the holdout."""
    from gridjourney.db.engine import create_engine
    from gridjourney.dr.lcl import LclDataError, import_lcl

    async def main() -> LclImport:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            return await import_lcl(engine, directory, first=_day(first), last=_day(last), per_tariff=homes)
        finally:
            await engine.dispose()

    began = time.monotonic()
    try:
        result = asyncio.run(main())
    except LclDataError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"{result.homes} homes ({result.treated} time-of-use, {result.holdout} flat tariff), "
        f"{len(result.events)} High-price events ({result.events[0]} .. {result.events[-1]}), "
        f"{result.reads_in_files:,} reads read, {result.reads_stored:,} newly stored "
        f"({time.monotonic() - began:.1f} s)\n"
        "next: gridjourney dr report --all (or one event id)"
    )


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@dr_app.command("vtn-event")
def vtn_event_command(
    program: Annotated[str | None, typer.Option(help="The DR program (a new event).")] = None,
    start: Annotated[
        str | None, typer.Option(help="When it starts, ISO 8601 with its offset: 2026-07-01T17:00:00-04:00.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="How long: 2h, 90m, 1h30m, seconds (7200) or ISO 8601 (PT2H).")
    ] = None,
    level: Annotated[float | None, typer.Option(help="The SIMPLE signal level, 1-3 (new: 1).")] = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="The new event's id (default: made up).")
    ] = None,
    modify: Annotated[
        str | None, typer.Option("--modify", metavar="ID", help="Change this event instead.")
    ] = None,
    cancel: Annotated[str | None, typer.Option("--cancel", metavar="ID", help="Cancel this event.")] = None,
    ven: Annotated[
        str | None, typer.Option(help="The VEN it is for (default: GRIDJOURNEY_VEN_NAME).")
    ] = None,
) -> None:
    """Schedule, modify or cancel a DR event on the running local OpenADR VTN (the one `gridjourney
    run` serves on GRIDJOURNEY_LOCAL_VTN_PORT); the VEN picks it up at its next poll."""
    import httpx

    from gridjourney.openadr.vtn_operator import OPERATOR_PATH

    settings = get_settings()
    base = f"http://127.0.0.1:{settings.local_vtn_port}{OPERATOR_PATH}"
    body: dict[str, object] = {"ven_name": ven or settings.ven_name}
    if start is not None:
        body["start"] = start
    if duration is not None:
        body["duration_seconds"] = _seconds(duration)
    if level is not None:
        body["level"] = level
    if modify is not None and cancel is not None:
        raise typer.BadParameter("--modify or --cancel, not both")
    if cancel is not None:
        url, what = f"{base}/{cancel}/cancel", "cancelled"
    elif modify is not None:
        url, what = f"{base}/{modify}/modify", "modified"
    else:
        if program is None or start is None or duration is None:
            raise typer.BadParameter("a new event needs --program, --start and --duration")
        body |= {"program": program, **({"event_id": event_id} if event_id else {})}
        url, what = base, "scheduled"
    try:
        answer = httpx.post(url, json=body, timeout=10)
    except httpx.TransportError as error:
        console.print(
            f"[red]error:[/] no local VTN answers at 127.0.0.1:{settings.local_vtn_port} ({error}): "
            "`gridjourney run` serves it (GRIDJOURNEY_LOCAL_VTN_PORT)"
        )
        raise typer.Exit(1) from None
    if answer.status_code >= 400:
        json_answer = answer.headers.get("content-type", "").startswith("application/json")
        detail = answer.json().get("detail") if json_answer else answer.text
        console.print(f"[red]error:[/] the local VTN refused it: {detail}")
        raise typer.Exit(1)
    done = answer.json()
    console.print(
        f"{what} event {done['event_id']} (modification {done['modification_number']}) for VEN "
        f"{body['ven_name']}: it reaches the VEN at its next poll"
    )


def _seconds(duration: str) -> float:
    """A duration as settings take one (2h, 90m, 7200, PT2H: config.py SettingDuration), in seconds."""
    from pydantic import TypeAdapter, ValidationError

    from gridjourney.config import SettingDuration

    try:
        seconds = TypeAdapter(SettingDuration).validate_python(duration).total_seconds()
    except ValidationError as error:
        reason = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(f"{duration!r}: {reason}") from None
    if seconds <= 0:
        raise typer.BadParameter(f"{duration!r}: a duration is positive")
    return seconds
