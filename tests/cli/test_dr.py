"""`gridjourney dr report` and `gridjourney dr import-lcl` as installed, against a real database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cli.in_process import gridjourney_in_process
from tests.cli.test_subscriptions import gridjourney
from tests.dr.synthetic import build_trial, store_trial

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
