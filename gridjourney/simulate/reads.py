"""Interval reads for a block of customers, vectorised over (customer, interval).

Household profile (archetype, shifted a little per customer) x scale, plus heating and cooling from the
zone's temperature, EV charging sessions, rooftop solar (net reads go negative at midday), day and
interval noise, DR curtailment by responders on event days, then the planted anomalies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.simulate.archetypes import ARCHETYPE_NAMES, COOL_BASE_C, HEAT_BASE_C
from gridjourney.simulate.population import ANOMALY_TYPES
from gridjourney.simulate.weather import ZONES, ZoneTimeline

DR_HOURS = (16, 19)  # local, end exclusive
SOURCE = "simulator"


def _per_customer(anomalies: pd.DataFrame, ids: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.int64], ...]:
    kind = np.full(len(ids), -1)
    onset = np.full(len(ids), -1)
    end = np.full(len(ids), -2)
    pos = pd.Index(ids).get_indexer(pd.Index(anomalies["customer_id"]))
    kind[pos] = [ANOMALY_TYPES.index(k) for k in anomalies["anomaly_type"]]
    onset[pos] = anomalies["onset_day"].to_numpy()
    end[pos] = anomalies["end_day"].to_numpy()
    return kind, onset, end


def generate_block(
    block: pd.DataFrame,
    anomalies: pd.DataFrame,
    timelines: Sequence[ZoneTimeline],
    profiles: npt.NDArray[np.float64],
    interval_minutes: int,
    dr_days: npt.NDArray[np.int64],
    seed: int,
    block_index: int,
) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 2, block_index])
    per_day = 24 * 60 // interval_minutes
    days = len(timelines[0].daily_temperature)
    n = len(block)
    zi = np.array([ZONES.index(z) for z in block["time_zone"]])
    tod = np.stack([t.interval_of_day for t in timelines])[zi]
    day = np.stack([t.local_day for t in timelines])[zi]
    weekend = np.stack([t.weekend for t in timelines])[zi].astype(np.int64)
    temp = np.stack([t.temperature for t in timelines])[zi]
    hour = (tod + 0.5) * 24.0 / per_day
    ids = block["customer_id"].to_numpy()
    kind, onset, end = _per_customer(anomalies, ids)
    mag = np.zeros(n)
    mag[pd.Index(ids).get_indexer(pd.Index(anomalies["customer_id"]))] = anomalies["magnitude"].to_numpy()
    active = (day >= onset[:, None]) & (day <= end[:, None])

    def planted(name: str) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = active & (kind == ANOMALY_TYPES.index(name))[:, None]
        return mask

    shift = np.rint(block["shift_hours"].to_numpy() * per_day / 24.0).astype(np.int64)[:, None]
    shift = shift + np.where(planted("shifted_peak"), np.rint(mag[:, None] * per_day / 24.0), 0).astype(
        np.int64
    )
    arch = np.array([ARCHETYPE_NAMES.index(a) for a in block["archetype"]])
    load = profiles[arch[:, None], weekend, (tod - shift) % per_day] * block["scale"].to_numpy()[:, None]
    load += block["heat_kw_per_c"].to_numpy()[:, None] * np.clip(HEAT_BASE_C - temp, 0, None)
    load += block["cool_kw_per_c"].to_numpy()[:, None] * np.clip(temp - COOL_BASE_C, 0, None)
    load *= rng.lognormal(0.0, 0.08, (n, days))[np.arange(n)[:, None], day]
    load *= rng.lognormal(0.0, 0.18, load.shape)
    curtails = (block["dr_enrolled"] & block["dr_responder"]).to_numpy()[:, None]
    in_event = np.isin(day, dr_days) & (hour >= DR_HOURS[0]) & (hour < DR_HOURS[1])
    load = np.where(curtails & in_event, load * 0.65, load)
    load = np.where(planted("step_increase"), load * (1.0 + mag[:, None]), load)
    load = np.where(planted("added_baseload"), load + mag[:, None], load)
    # EV: a session most nights, starting near the customer's usual hour, as long as the energy needs.
    ev_kw = block["ev_kw"].to_numpy()[:, None]
    plugged = rng.random((n, days)) < 0.75
    start = block["ev_start_hour"].to_numpy()[:, None] + rng.normal(0, 0.5, (n, days))
    duration = (
        block["ev_kwh_per_night"].to_numpy()[:, None]
        * rng.uniform(0.6, 1.2, (n, days))
        / np.maximum(ev_kw, 1e-9)
    )
    rows = np.arange(n)[:, None]
    since = (hour - start[rows, day]) % 24.0
    load += np.where(plugged[rows, day] & (since < duration[rows, day]), ev_kw, 0.0)
    # Solar: clear-sky bell x season x the zone's cloudiness that day (shared by neighbours).
    cloud = np.random.default_rng([seed, 3]).beta(5.0, 1.8, (len(ZONES), days))[zi][rows, day]
    doy = np.stack([t.day_of_year for t in timelines])[zi][rows, day]
    season = 0.75 + 0.25 * np.cos(2 * np.pi * (doy - 172) / 365.25)
    sun = np.clip(np.sin(np.pi * (hour - 6.0) / 13.0), 0.0, None) ** 1.5
    load -= block["solar_kw"].to_numpy()[:, None] * sun * season * cloud
    spike_tod = rng.integers(0, per_day, n)[:, None]
    load = np.where(planted("spike") & (tod == spike_tod), load + mag[:, None], load)
    flat = planted("flat_line")
    stuck = np.where(mag > 0, np.round(np.abs(load).mean(axis=1), 2), 0.0)[:, None]
    load = np.where(flat, stuck, load)
    kwh = np.round(load * interval_minutes / 60.0, 4)
    read_at = np.stack([t.read_at for t in timelines])[zi]
    return pd.DataFrame(
        {
            "customer_id": np.repeat(ids, tod.shape[1]),
            "meter_id": np.repeat(block["meter_id"].to_numpy(), tod.shape[1]),
            "read_at": pd.DatetimeIndex(read_at.ravel()).tz_localize("UTC"),
            "interval_seconds": np.full(kwh.size, interval_minutes * 60, dtype=np.int32),
            "kwh": kwh.ravel(),
            "quality": pd.array(np.zeros(kwh.size, dtype=np.int16), dtype="Int16"),  # ESPI 0 = valid
            "source": SOURCE,
        }
    )
