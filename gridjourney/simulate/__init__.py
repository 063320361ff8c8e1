"""A seeded synthetic utility with known ground truth, for development, tests and benchmarks."""

from gridjourney.simulate.archetypes import ARCHETYPE_NAMES, archetype_load_shapes
from gridjourney.simulate.population import ANOMALY_TYPES
from gridjourney.simulate.utility import Simulation, SimulationConfig

__all__ = ["ANOMALY_TYPES", "ARCHETYPE_NAMES", "Simulation", "SimulationConfig", "archetype_load_shapes"]
