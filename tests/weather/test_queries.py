"""weather_daily: idempotent upserts and daily temperatures read per zone through the station mapping."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.weather.queries import daily_temperatures, station_days, upsert_daily


def _days(station: str, start: str, temps: list[float], source: str = "test") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": station,
            "date": [d.date() for d in pd.date_range(start, periods=len(temps), freq="D")],
            "temperature_c": temps,
            "observations": 24,
            "source": source,
        }
    )


async def test_upsert_inserts_then_changes_nothing_then_updates_what_differs(engine: AsyncEngine) -> None:
    first = _days("UKM00003772", "2013-01-30", [4.0, 5.5, 6.0])
    counts = await upsert_daily(engine, first)
    assert (counts.inserted, counts.updated, counts.unchanged) == (3, 0, 0)
    again = await upsert_daily(engine, first)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    revised = _days("UKM00003772", "2013-01-31", [5.5, 7.25, 8.0])  # 31st same, 1st changed, 2nd new
    counts = await upsert_daily(engine, revised)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    assert await station_days(engine, "UKM00003772") == (4, date(2013, 1, 30), date(2013, 2, 2))


async def test_daily_temperatures_go_through_the_mapping(engine: AsyncEngine) -> None:
    await upsert_daily(engine, _days("UKM00003772", "2013-03-01", [3.0, 4.0, 5.0]))
    await upsert_daily(engine, _days("USW00094846", "2013-03-01", [-2.0, -1.0, 0.5]))
    stations = {
        "Europe/London": "UKM00003772",
        "Europe/Dublin": "UKM00003772",
        "America/Chicago": "USW00094846",
    }
    frame = await daily_temperatures(
        engine,
        ["Europe/London", "America/Chicago", "Europe/Dublin", "Asia/Tokyo"],
        date(2013, 3, 2),
        date(2013, 3, 3),
        stations=stations,
    )
    assert list(frame.columns) == ["time_zone", "date", "temperature_c"]
    got = {(row.time_zone, row.date): row.temperature_c for row in frame.itertuples()}
    assert got == {
        ("America/Chicago", date(2013, 3, 2)): -1.0,
        ("America/Chicago", date(2013, 3, 3)): 0.5,
        ("Europe/Dublin", date(2013, 3, 2)): 4.0,
        ("Europe/Dublin", date(2013, 3, 3)): 5.0,
        ("Europe/London", date(2013, 3, 2)): 4.0,
        ("Europe/London", date(2013, 3, 3)): 5.0,
    }


async def test_no_weather_is_an_empty_frame(engine: AsyncEngine) -> None:
    unmapped = await daily_temperatures(
        engine, ["Asia/Tokyo"], date(2013, 1, 1), date(2013, 12, 31), stations={}
    )
    assert unmapped.empty
    assert list(unmapped.columns) == ["time_zone", "date", "temperature_c"]
    nothing_stored = await daily_temperatures(
        engine, ["Europe/London"], date(2013, 1, 1), date(2013, 12, 31), stations={"Europe/London": "X1"}
    )
    assert nothing_stored.empty
