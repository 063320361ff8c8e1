"""One small simulation and its features, shared by the scoring tests (built once per session)."""

from __future__ import annotations

import pytest

from gridjourney.scoring.dataset import Dataset, from_simulation
from gridjourney.simulate import Simulation, SimulationConfig


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    sim = Simulation(SimulationConfig(customers=800, days=60, seed=21, interval_minutes=60))
    return from_simulation(sim)
