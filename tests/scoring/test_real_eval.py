"""The protocol on real reads: a slice of the London homes (tests/dr/data/lcl-2013-slice), a detector
trained on the shared simulation, figures reproducible by seed, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridjourney.cli.models import models_app
from gridjourney.scoring import anomaly
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.real_eval import Population, halves, run_protocol
from gridjourney.scoring.real_eval_data import RealDataError, load_real, load_temperatures
from gridjourney.scoring.real_eval_plant import KINDS

SLICE = Path(__file__).resolve().parents[1] / "dr" / "data" / "lcl-2013-slice" / "meters.csv.gz"
TEMPERATURES = Path(__file__).resolve().parent / "data" / "london_2013_temperature.csv"


@pytest.fixture(scope="module")
def detector(dataset: Dataset) -> anomaly.AnomalyDetector:
    return anomaly.fit_detector(dataset.daily)


@pytest.fixture(scope="module")
def population() -> Population:
    real = load_real([SLICE])
    return Population(real.reads, real.time_zones, load_temperatures(TEMPERATURES))


def test_the_same_seed_gives_the_same_figures_and_planted_zeros_are_no_use(
    detector: anomaly.AnomalyDetector, population: Population
) -> None:
    first = run_protocol(detector, population, seed=5, copies=1)
    again = run_protocol(detector, population, seed=5, copies=1)
    assert first == again
    figures = first["all"]
    assert set(figures) == {"clean"} | {k.name for k in KINDS}
    zero = figures["zero"]
    assert zero["planted"] == 6  # one copy per home: the six homes of the slice
    assert zero["recall"] == 1.0 and zero["correct_type"] == 1.0
    assert zero["types_found"] == {"no_use": 6}
    assert zero["median_days_to_alert"] == 0.0  # the first day at zero is enough
    # +1 kW around the clock in homes of a few hundred watts at night: found, and not as a flat line.
    assert figures["plus_1kw"]["recall"] >= 0.8
    assert set(figures["plus_1kw"]["types_found"]) <= {"added_baseload", "step_increase"}
    assert figures["clean"]["meters"] == 6 and figures["clean"]["meter_months"] > 0


def test_another_seed_plants_elsewhere(detector: anomaly.AnomalyDetector, population: Population) -> None:
    from gridjourney.metering.features import daily_features
    from gridjourney.scoring.real_eval import _copies

    clean = daily_features(population.reads, time_zone=population.time_zones)
    _, truth_a, _ = _copies(population, clean, 1, 1)
    _, truth_b, _ = _copies(population, clean, 2, 1)
    assert len(truth_a) == len(truth_b) == 6 * len(KINDS)
    assert not truth_a["onset"].equals(truth_b["onset"])


def test_groups_split_the_homes_in_two_stable_halves() -> None:
    meters = [f"lcl-MAC{n:06d}" for n in range(40)]
    split = halves(meters)
    assert sorted(split["tuning_half"] + split["held_out_half"]) == meters
    assert 10 <= len(split["tuning_half"]) <= 30
    assert halves(list(reversed(meters))) == split  # by id, not by position


def test_bad_files_are_refused_by_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("hello,world\n1,2\n")
    with pytest.raises(RealDataError, match=r"notes\.csv"):
        load_real([notes])
    with pytest.raises(RealDataError, match="no such file"):
        load_real([tmp_path / "missing.xml"])
    temps = tmp_path / "temps.csv"
    temps.write_text("date,tmean_c\n2013-01-01,4.5\nyesterday,3.0\n")
    with pytest.raises(RealDataError, match="line 3: date 'yesterday'"):
        load_temperatures(temps)
    (tmp_path / "t2.csv").write_text("day,temp\n2013-01-01,4\n")
    with pytest.raises(RealDataError, match="tmean_c"):
        load_temperatures(tmp_path / "t2.csv")


def test_the_command_answers_a_bad_file_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<feed><entry>not espi</entry></feed>")
    result = CliRunner().invoke(models_app, ["evaluate", "--real", str(bad)])
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "bad.xml" in line


def test_real_series_keep_their_days_and_zone() -> None:
    real = load_real([SLICE])
    assert len(real.time_zones) == 6 and set(real.time_zones.values()) == {"Europe/London"}
    assert (real.reads["interval_seconds"] == 1800).all()
    assert real.reads["read_at"].dt.tz is not None
    assert pd.Timestamp(real.reads["read_at"].min()) == pd.Timestamp("2013-01-01", tz="UTC")


def test_training_pools_several_weather_draws_apart_from_the_side_by_side_homes() -> None:
    from gridjourney.scoring.dataset import from_simulation
    from gridjourney.scoring.real_eval import (
        TRAINING_SIMULATION,
        TRAINING_WEATHER_DRAWS,
        _config,
        train_on_simulation,
        training_seeds,
    )
    from gridjourney.simulate import Simulation

    seeds = training_seeds(3)
    # Each draw is a simulation of its own, and none is the side-by-side population's (seed + 1).
    assert len(set(seeds)) == TRAINING_WEATHER_DRAWS >= 2 and 4 not in seeds
    pooled = train_on_simulation(3)
    one = anomaly.fit_detector(from_simulation(Simulation(_config(seeds[0], TRAINING_SIMULATION))).daily)
    # The homes of every draw are counted as homes of their own (their ids repeat across draws).
    assert pooled.trained_days > (TRAINING_WEATHER_DRAWS - 1) * one.trained_days
