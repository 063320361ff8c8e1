"""SQL of the weather store: upsert daily means per station, read them back per zone or region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.weather.stations import stations_for

DAILY_COLUMNS = ["station_id", "date", "temperature_c", "observations", "source"]
UPSERT_CHUNK_ROWS = 10_000

# One statement per chunk: arrays unnested into rows. A row is rewritten only when something in it
# changed, so a re-import reports (and changes) nothing; xmax = 0 tells a new row from a rewritten one.
_UPSERT = text(
    "INSERT INTO weather_daily (station_id, date, temperature_c, observations, source) "
    "SELECT * FROM unnest(CAST(:station_id AS varchar[]), CAST(:date AS date[]), "
    "CAST(:temperature_c AS float8[]), CAST(:observations AS integer[]), CAST(:source AS varchar[])) "
    "ON CONFLICT (station_id, date) DO UPDATE SET temperature_c = excluded.temperature_c, "
    "observations = excluded.observations, source = excluded.source, imported_at = now() "
    "WHERE (weather_daily.temperature_c, weather_daily.observations, weather_daily.source) "
    "IS DISTINCT FROM (excluded.temperature_c, excluded.observations, excluded.source) "
    "RETURNING (xmax = 0) AS inserted"
)


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


async def upsert_daily(engine: AsyncEngine, daily: pd.DataFrame) -> UpsertCounts:
    """Store daily means (columns DAILY_COLUMNS, one row per station and date) in one transaction."""
    inserted = updated = 0
    async with engine.begin() as conn:
        for begin in range(0, len(daily), UPSERT_CHUNK_ROWS):
            chunk = daily.iloc[begin : begin + UPSERT_CHUNK_ROWS]
            params = {
                "station_id": chunk["station_id"].astype(str).tolist(),
                "date": [pd.Timestamp(d).date() for d in chunk["date"]],
                "temperature_c": chunk["temperature_c"].astype(float).tolist(),
                "observations": chunk["observations"].astype(int).tolist(),
                "source": chunk["source"].astype(str).tolist(),
            }
            flags = (await conn.execute(_UPSERT, params)).scalars().all()
            inserted += sum(1 for flag in flags if flag)
            updated += sum(1 for flag in flags if not flag)
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=len(daily) - inserted - updated)


async def station_days(engine: AsyncEngine, station_id: str) -> tuple[int, date | None, date | None]:
    """How many days one station has stored, and its first and last."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT count(*), min(date), max(date) FROM weather_daily WHERE station_id = :s"),
                {"s": station_id},
            )
        ).one()
    return int(row[0]), row[1], row[2]


async def daily_temperatures(
    engine: AsyncEngine,
    time_zones: list[str],
    start: date,
    end: date,
    *,
    stations: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """time_zone, date, temperature_c (the day's mean, °C) from `start` to `end` inclusive.

    Each zone (or region) reads the station the `weather_stations` setting maps it to (`stations`
    overrides the setting). Zones with no station, and days with nothing stored, have no rows: an
    empty frame means no weather, never zeros.
    """
    if stations is None:
        from gridjourney.config import get_settings

        stations = get_settings().weather_stations
    wanted = stations_for(time_zones, stations)
    empty = pd.DataFrame(
        {
            "time_zone": pd.Series(dtype=object),
            "date": pd.Series(dtype=object),
            "temperature_c": pd.Series(dtype=float),
        }
    )
    if not wanted:
        return empty
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT station_id, date, temperature_c FROM weather_daily "
                    "WHERE station_id = ANY(CAST(:stations AS varchar[])) AND date BETWEEN :start AND :end "
                    "ORDER BY station_id, date"
                ),
                {"stations": sorted(set(wanted.values())), "start": start, "end": end},
            )
        ).all()
    if not rows:
        return empty
    by_station = pd.DataFrame(rows, columns=["station_id", "date", "temperature_c"])
    zones = pd.DataFrame({"time_zone": list(wanted), "station_id": list(wanted.values())})
    out = zones.merge(by_station, on="station_id")[["time_zone", "date", "temperature_c"]]
    return out.sort_values(["time_zone", "date"], ignore_index=True)
