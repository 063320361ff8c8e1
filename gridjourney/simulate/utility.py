"""The synthetic utility: configuration, population, weather, DR event days and read blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.simulate.archetypes import profile_table
from gridjourney.simulate.population import make_population
from gridjourney.simulate.reads import generate_block
from gridjourney.simulate.weather import ZONES, ZoneTimeline, zone_timeline
from gridjourney.weather.stations import SIMULATOR_STATIONS

# Reads are generated in blocks of this many customers; fixed so the data does not depend on memory.
BLOCK_CUSTOMERS = 250


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 1000
    days: int = 90
    seed: int = 42
    interval_minutes: int = 15
    start: date = date(2024, 5, 1)
    anomaly_rate: float = 0.2
    dr_event_count: int = 3


@dataclass
class Simulation:
    config: SimulationConfig
    customers: pd.DataFrame = field(init=False)
    planted: pd.DataFrame = field(init=False)  # local day indices

    def __post_init__(self) -> None:
        c = self.config
        if c.interval_minutes not in (15, 30, 60):
            raise ValueError("interval_minutes must be 15, 30 or 60")
        if c.customers < 1 or c.days < 1:
            raise ValueError("customers and days must be at least 1")
        self.customers, self.planted = make_population(c.customers, c.seed, c.days, c.anomaly_rate)

    @cached_property
    def timelines(self) -> list[ZoneTimeline]:
        c = self.config
        return [zone_timeline(z, c.start, c.days, c.interval_minutes, c.seed) for z in ZONES]

    @cached_property
    def dates(self) -> list[date]:
        return [self.config.start + timedelta(days=i) for i in range(self.config.days)]

    @cached_property
    def dr_days(self) -> npt.NDArray[np.int64]:
        """The hottest working days (mean over zones) after the first two weeks: DR events."""
        temps = np.mean([t.daily_temperature for t in self.timelines], axis=0)
        weekday = ~self.timelines[0].weekend[
            np.searchsorted(self.timelines[0].local_day, np.arange(len(temps)))
        ]
        candidates = np.flatnonzero(weekday & (np.arange(len(temps)) >= 14))
        hottest = candidates[np.argsort(-temps[candidates])][: self.config.dr_event_count]
        return np.sort(hottest).astype(np.int64)

    @property
    def blocks(self) -> int:
        return -(-self.config.customers // BLOCK_CUSTOMERS)

    def read_blocks(self) -> Iterator[pd.DataFrame]:
        profiles = profile_table(24 * 60 // self.config.interval_minutes)
        for b in range(self.blocks):
            block = self.customers.iloc[b * BLOCK_CUSTOMERS : (b + 1) * BLOCK_CUSTOMERS]
            planted = self.planted[self.planted["customer_id"].isin(block["customer_id"])]
            yield generate_block(
                block,
                planted,
                self.timelines,
                profiles,
                self.config.interval_minutes,
                self.dr_days,
                self.config.seed,
                b,
            )

    def reads(self) -> pd.DataFrame:
        """All reads at once: for small simulations (tests); large ones go block by block."""
        return pd.concat(list(self.read_blocks()), ignore_index=True)

    def anomalies(self) -> pd.DataFrame:
        """Planted anomalies with dates: customer_id, meter_id, anomaly_type, onset, end, magnitude."""
        out = self.planted.merge(self.customers[["customer_id", "meter_id"]], on="customer_id")
        start = pd.Timestamp(self.config.start)
        out["onset"] = (start + pd.to_timedelta(out["onset_day"], unit="D")).dt.date
        out["end"] = (start + pd.to_timedelta(out["end_day"], unit="D")).dt.date
        return out[["customer_id", "meter_id", "anomaly_type", "onset", "end", "magnitude"]]

    def daily_temperatures(self) -> pd.DataFrame:
        """time_zone, date, temperature_c (local daily mean)."""
        return pd.concat(
            [
                pd.DataFrame({"time_zone": t.zone, "date": self.dates, "temperature_c": t.daily_temperature})
                for t in self.timelines
            ],
            ignore_index=True,
        )

    def weather_days(self) -> pd.DataFrame:
        """The daily means as the weather store keeps them: each zone under its simulator station
        (gridjourney/weather/stations.py), so scoring reads them through the default mapping."""
        per_day = 24 * 60 // self.config.interval_minutes
        days = self.daily_temperatures()
        return pd.DataFrame(
            {
                "station_id": days["time_zone"].map(SIMULATOR_STATIONS),
                "date": days["date"],
                "temperature_c": days["temperature_c"],
                "observations": per_day,
                "source": "simulator",
            }
        )

    def hourly_temperatures(self) -> pd.DataFrame:
        """time_zone, at (UTC interval start), temperature_c."""
        return pd.concat(
            [
                pd.DataFrame(
                    {
                        "time_zone": t.zone,
                        "at": pd.DatetimeIndex(t.read_at).tz_localize("UTC"),
                        "temperature_c": t.temperature,
                    }
                )
                for t in self.timelines
            ],
            ignore_index=True,
        )

    def dr_event_dates(self) -> list[date]:
        return [self.dates[i] for i in self.dr_days]

    def labels(self) -> pd.DataFrame:
        cols = [
            "customer_id",
            "archetype",
            "dr_enrol_propensity",
            "dr_enrolled",
            "dr_response_propensity",
            "dr_responder",
            "churn_risk",
            "churned",
            "dr_enrol_propensity_observable",
            "dr_response_propensity_observable",
            "churn_risk_observable",
        ]
        return self.customers[cols].copy()
