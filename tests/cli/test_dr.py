"""`gridjourney dr report` and `gridjourney dr import-lcl` as installed, against a real database."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.openadr.ven import running_ven
from gridjourney.openadr.vtn import local_vtn
from tests.cli.in_process import gridjourney_in_process
from tests.cli.test_subscriptions import gridjourney
from tests.dr.synthetic import build_trial, store_trial
from tests.openadr.test_ven import dr_events, handed_over, settings, window_of

# A slice of the real London homes (its README says which), kept in the repository so that a fresh
# clone tests it wherever it lives.
LCL = Path(__file__).resolve().parents[1] / "dr" / "data" / "lcl-2013-slice"


async def test_report_prints_the_event_and_draws_the_plot(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await store_trial(engine, build_trial(treated=10, holdout=10, responders=10, shed_kw=1.0))
    plot = tmp_path / "ev-1.png"
    # As installed (a fresh process) once; in the test process after (tests/cli/in_process.py).
    code, out = await gridjourney(database_url, "dr", "report", "ev-1", "--plot", str(plot))
    assert code == 0, out
    assert "DR event ev-1 (ptr" in out
    assert "members (treated / holdout)" in out and "20 (10 / 10)" in out
    assert "responded (treated)" in out
    assert "2024-03-14 17:00" in out and "2024-03-14 19:00" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out = await gridjourney_in_process(database_url, "dr", "report", "--all")
    assert code == 0, out
    assert "all 1 events" in out and "reduction against the holdout" in out

    code, out = await gridjourney_in_process(database_url, "dr", "report", "nope")
    assert code == 1 and "no DR event 'nope'" in out
    code, out = await gridjourney_in_process(database_url, "dr", "report")
    assert code == 2 and "EVENT_ID, or --all" in out


async def test_import_lcl_then_report_on_a_slice_of_the_real_homes(database_url: str) -> None:
    args = ("dr", "import-lcl", str(LCL), "--from", "2013-03-16", "--to", "2013-03-17", "--homes", "3")
    code, out = await gridjourney_in_process(database_url, *args)
    assert code == 0, out
    assert "6 homes (3 time-of-use, 3 flat tariff), 2 High-price events" in out
    assert "lcl-high-20130316T1700" in out and "lcl-high-20130317T1700" in out
    code, again = await gridjourney_in_process(database_url, *args)
    assert code == 0 and ", 0 newly stored" in again  # importing again adds nothing

    code, out = await gridjourney_in_process(database_url, "dr", "report", "lcl-high-20130316T1700")
    assert code == 0, out
    assert "DR event lcl-high-20130316T1700 (lcl-dtou-high" in out
    assert "6 (3 / 3)" in out and "3 / 3" in out  # every home's reads cover the window
    for hour in range(17, 23):
        assert f"2013-03-16 {hour}:00" in out
    code, out = await gridjourney_in_process(
        database_url, "dr", "report", "--all", "--program", "lcl-dtou-high"
    )
    assert code == 0, out
    assert "all 2 events" in out and "(3 treated, 3 holdout, 0 on each side" in out


async def test_the_plot_of_an_event_without_reads_is_one_line_not_an_empty_picture(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    trial = build_trial(treated=3, holdout=3)
    await store_trial(engine, replace(trial, reads=trial.reads.iloc[0:0]))
    plot = tmp_path / "ev-1.png"
    code, out = await gridjourney_in_process(database_url, "dr", "report", "ev-1", "--plot", str(plot))
    assert code == 0, out
    assert f"no reads cover the event window: {plot} not written" in out
    assert not plot.exists()


async def test_an_operator_schedules_modifies_and_cancels_an_event_on_the_local_vtn(
    engine: AsyncEngine, database_url: str
) -> None:
    ven_name = f"operator-{uuid.uuid4().hex[:6]}"
    start = (datetime.now(UTC) + timedelta(hours=20)).replace(microsecond=0)
    async with (
        local_vtn(poll_interval=timedelta(seconds=30)) as vtn,
        running_ven(engine, settings(ven_name), vtn_url=vtn.url),
    ):
        env = {"GRIDJOURNEY_LOCAL_VTN_PORT": str(vtn.port), "GRIDJOURNEY_VEN_NAME": ven_name}

        async def vtn_event(*args: str) -> str:
            code, out = await gridjourney_in_process(database_url, "dr", "vtn-event", *args, **env)
            assert code == 0, out
            return out

        out = await vtn_event(
            "--program", "Peak Time Rewards", "--start", start.isoformat(), "--duration", "2h",
            "--level", "2", "--event-id", "OP-1",
        )  # fmt: skip
        assert f"scheduled event OP-1 (modification 0) for VEN {ven_name}" in out
        assert (await vtn.answer_for("OP-1", 0)).opt_type == "optIn"
        out = await vtn_event("--modify", "OP-1", "--start", (start + timedelta(hours=1)).isoformat())
        assert "modified event OP-1 (modification 1)" in out
        assert (await vtn.answer_for("OP-1", 1)).opt_type == "optIn"
        assert "cancelled event OP-1 (modification 2)" in await vtn_event("--cancel", "OP-1")
        assert (await vtn.answer_for("OP-1", 2)).opt_type == "optIn"
        await handed_over(vtn, ven_name)

        code, out = await gridjourney_in_process(database_url, "dr", "vtn-event", "--cancel", "OP-9", **env)
        assert (
            code == 1
            and f"the local VTN refused it: the local VTN has no event OP-9 for VEN {ven_name}" in out
        )

    found = await dr_events(engine)
    assert [kind for kind, _ in found] == ["dr.event_scheduled", "dr.event_modified", "dr.event_cancelled"]
    scheduled, modified, _ = (payload for _, payload in found)
    assert (scheduled["program"], scheduled["signal_level"]) == ("Peak Time Rewards", 2.0)
    assert window_of(scheduled) == (start, start + timedelta(hours=2))
    assert window_of(modified) == (start + timedelta(hours=1), start + timedelta(hours=3))

    # no VTN listening: one line saying which port and what serves it
    code, out = await gridjourney_in_process(
        database_url, "dr", "vtn-event", "--cancel", "OP-1", GRIDJOURNEY_LOCAL_VTN_PORT=str(vtn.port)
    )
    assert code == 1 and f"no local VTN answers at 127.0.0.1:{vtn.port}" in out
