"""The zone → station setting: validated, simulator zones by default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gridjourney.config import Settings
from gridjourney.weather.stations import SIMULATOR_STATIONS, stations_for, zones_of


def test_the_default_maps_the_simulator_zones() -> None:
    settings = Settings()
    assert settings.weather_stations == SIMULATOR_STATIONS
    assert settings.weather_stations["America/Chicago"] == "SIM-CHICAGO"


def test_the_setting_is_read_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDJOURNEY_WEATHER_STATIONS", '{"Europe/London": "UKM00003772", "north-west": "W1"}')
    assert Settings().weather_stations == {"Europe/London": "UKM00003772", "north-west": "W1"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Europe/Londres": "UKM00003772"}, "not an IANA time zone"),
        ({"Europe/London": "UKM 3772"}, "letters, digits"),
        ({" ": "UKM00003772"}, "empty zone"),
    ],
)
def test_bad_mappings_are_refused_by_name(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match="weather_stations") as refused:
        Settings(weather_stations=mapping)
    assert message in str(refused.value)


def test_lookups_both_ways() -> None:
    mapping = {"Europe/London": "UKM00003772", "Europe/Dublin": "UKM00003772", "America/Chicago": "C"}
    assert stations_for(["Europe/London", "Asia/Tokyo", "Europe/London"], mapping) == {
        "Europe/London": "UKM00003772"
    }
    assert zones_of("UKM00003772", mapping) == ["Europe/London", "Europe/Dublin"]
