"""Which weather station stands for a time zone or region (the `weather_stations` setting).

Customers carry a time zone; the utility maps each zone (or a region name of its own) to the station
whose temperatures its homes feel, e.g. {"Europe/London": "UKM00003772"}. The simulator writes its
weather under one station per simulated zone (SIMULATOR_STATIONS), which is the default mapping, so a
simulated utility scores with its own weather without any configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from zoneinfo import available_timezones

# The simulator's zones (gridjourney/simulate/weather.py) and the stations it writes their weather to.
SIMULATOR_STATIONS: dict[str, str] = {
    zone: f"SIM-{zone.split('/')[-1].upper()}"
    for zone in (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
    )
}

# NOAA ids (USW00094846, UKM00003772, 72530094846), WMO numbers, or names of one's own.
_STATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class StationMappingError(ValueError):
    """The zone → station mapping names something that cannot be a zone or a station."""


def check_station_id(station_id: str) -> str:
    if not _STATION_ID.match(station_id):
        raise StationMappingError(
            f"station id {station_id!r}: letters, digits and _.:- only, at most 100 characters"
        )
    return station_id


def check_stations(mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping, checked: keys are IANA time zones (anything with a '/') or region names."""
    zones = available_timezones()
    checked: dict[str, str] = {}
    for key, station in mapping.items():
        name = key.strip()
        if not name:
            raise StationMappingError("an empty zone or region name")
        if "/" in name and name not in zones:
            raise StationMappingError(f"{name!r} is not an IANA time zone")
        checked[name] = check_station_id(station.strip())
    return checked


def stations_for(keys: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """The station of each zone or region that has one (the others are left out)."""
    return {key: mapping[key] for key in dict.fromkeys(keys) if key in mapping}


def zones_of(station_id: str, mapping: Mapping[str, str]) -> list[str]:
    """The zones (and regions) mapped to one station."""
    return [key for key, station in mapping.items() if station == station_id]
