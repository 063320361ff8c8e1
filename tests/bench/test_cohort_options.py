"""`gridjourney bench cohort`'s send topology options, refused before anything starts when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cohort import main
from bench.cohort_stack import profiled_as
from gridjourney.cli.bench import bench_app


def test_a_negative_number_of_send_workers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--send-workers", "-1"])
    assert exited.value.code == 2
    assert "--send-workers must be 0 or more" in capsys.readouterr().err

    result = CliRunner().invoke(bench_app, ["cohort", "--send-workers", "-1"])
    assert result.exit_code == 2
    assert "send-workers" in result.output


def test_each_send_worker_profiles_beside_the_benchmarks_profile() -> None:
    assert profiled_as(Path("/tmp/c20k.prof"), 2) == Path("/tmp/c20k-send-2.prof")
