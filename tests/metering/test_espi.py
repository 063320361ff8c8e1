"""ESPI feeds as they exist in the wild: what can be determined is read, the rest reported by name."""

from __future__ import annotations

import pytest

from gridjourney.metering.errors import GreenButtonError
from gridjourney.metering.espi import parse_espi
from tests.metering.espi_builder import Point, Series, espi_wild_feed

JAN1 = 1704067200  # 2024-01-01T00:00Z


def _hours(values: list[int]) -> list[tuple[int, int, int]]:
    return [(JAN1 + 3600 * i, 3600, v) for i, v in enumerate(values)]


ELECTRIC = Series(_hours([500, 700, 300, 400]))  # Wh


def test_electricity_is_imported_and_the_gas_usage_point_reported() -> None:
    gas = Series(_hours([12, 15, 9]), uom=169)  # therms, on a gas usage point
    feed = parse_espi(espi_wild_feed([Point([ELECTRIC]), Point([gas], kind=1)]))
    assert feed.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
    assert feed.reads["meter_key"].unique().tolist() == ["1"]
    [skipped] = feed.skipped
    assert "gas (ServiceCategory kind 1)" in skipped.reason and skipped.readings == 3
    assert skipped.element == "entry[7]/MeterReading (entry[8]/IntervalBlock)"


def test_a_non_energy_series_beside_the_energy_is_skipped_by_its_unit() -> None:
    demand = Series(_hours([2000, 2500]), uom=38)  # W: power, not energy
    feed = parse_espi(espi_wild_feed([Point([ELECTRIC, demand])]))
    assert len(feed.reads) == 4
    [skipped] = feed.skipped
    assert "uom 38 (W (power)) is not electric energy" in skipped.reason and skipped.readings == 2


def test_cumulative_and_interval_readings_of_one_usage_point_keep_the_interval_ones() -> None:
    register = Series(_hours([10_000, 10_500, 11_200, 11_500]), accumulation=3)
    feed = parse_espi(espi_wild_feed([Point([register, ELECTRIC])]))
    assert feed.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
    [skipped] = feed.skipped
    assert "3 (cumulative) readings are registers" in skipped.reason


def test_an_interval_and_a_cumulative_reading_type_at_one_address() -> None:
    # Both MeterReadings link to ReadingType/500, which the feed gives twice: delta, then cumulative.
    interval = Series(_hours([500, 700, 300, 400]), reading_type_id=500)
    register = Series(_hours([10_000 + 300 * i for i in range(24)]), accumulation=3, reading_type_id=500)
    feed = parse_espi(espi_wild_feed([Point([interval, register])]))
    assert feed.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
    reasons = sorted(s.reason for s in feed.skipped)
    assert len(reasons) == 2
    assert reasons[0].startswith("3 (cumulative) at the same address as an interval ReadingType")
    assert reasons[1].startswith("its values only ever grow")
    # A series that merely rises for a few hours is not taken for a register.
    rising = Series(_hours([100, 200, 300]), reading_type_id=600)
    kept = parse_espi(espi_wild_feed([Point([rising, Series([], accumulation=3, reading_type_id=600)])]))
    assert kept.reads["kwh"].tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_blocks_without_a_reading_type_are_refused_by_name_unless_a_unit_is_assumed() -> None:
    unknown = Series(_hours([800, 900]), uom=None)
    feed = parse_espi(espi_wild_feed([Point([ELECTRIC]), Point([unknown])]))
    assert len(feed.reads) == 4
    [skipped] = feed.skipped
    assert "no ReadingType" in skipped.reason and "--assume-uom Wh" in skipped.reason
    assert "IntervalBlock" in skipped.element

    only_unknown = espi_wild_feed([Point([unknown])])
    with pytest.raises(GreenButtonError) as refused:
        parse_espi(only_unknown)
    assert refused.value.element == "entry[2]/MeterReading"
    assert "no ReadingType" in refused.value.reason and "(in entry[3]/IntervalBlock)" in refused.value.reason

    assumed = parse_espi(only_unknown, assume_uom="Wh")
    assert assumed.reads["kwh"].tolist() == pytest.approx([0.8, 0.9])
    assert assumed.skipped == [] and "values read as Wh" in assumed.notes[0]
    with pytest.raises(GreenButtonError, match="one of Wh, kWh"):
        parse_espi(only_unknown, assume_uom="therm")


def test_a_file_of_gas_only_is_refused_naming_the_first_part() -> None:
    gas = Series(_hours([12, 15]), uom=169)
    with pytest.raises(GreenButtonError) as refused:
        parse_espi(espi_wild_feed([Point([gas], kind=1), Point([gas], kind=1)]))
    assert "gas (ServiceCategory kind 1)" in refused.value.reason
    assert "(in entry[4]/IntervalBlock; 1 other series skipped too)" in refused.value.reason


def test_undeclared_green_button_prefixes_are_read_as_their_namespaces() -> None:
    tidy = parse_espi(espi_wild_feed([Point([ELECTRIC])], prefixed=True))
    assert tidy.notes == []
    wild = parse_espi(espi_wild_feed([Point([ELECTRIC])], prefixed=True, declared=False))
    assert wild.reads["kwh"].tolist() == tidy.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
    assert [note.split(":")[0] for note in wild.notes] == [
        "undeclared namespace prefix atom",
        "undeclared namespace prefix espi",
    ]


def test_an_unknown_undeclared_prefix_is_refused_by_name() -> None:
    data = espi_wild_feed([Point([ELECTRIC])], prefixed=True).replace(b"espi:value", b"x:value")
    with pytest.raises(GreenButtonError) as refused:
        parse_espi(data)
    assert refused.value.element == "prefix x" and "not a Green Button prefix" in refused.value.reason


def test_a_prefix_declared_on_one_element_and_used_elsewhere_takes_that_declaration() -> None:
    # espi: declared (with its one URI) only on the first entry's content, used bare in the others.
    data = espi_wild_feed([Point([ELECTRIC])], prefixed=True, declared=False).replace(
        b"<espi:UsagePoint>", b'<espi:UsagePoint xmlns:espi="http://naesb.org/espi">', 1
    )
    feed = parse_espi(
        data.replace(b"<atom:", b"<")
        .replace(b"</atom:", b"</")
        .replace(b"<feed>", b'<feed xmlns="http://www.w3.org/2005/Atom">')
    )
    assert feed.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
    assert feed.notes == ["undeclared namespace prefix espi: read as http://naesb.org/espi"]


def test_elements_with_no_namespace_are_read_by_their_place() -> None:
    tidy = espi_wild_feed([Point([ELECTRIC])])
    # No namespace anywhere, and ESPI elements inheriting the feed's default (Atom) namespace.
    bare = tidy.replace(b' xmlns="http://www.w3.org/2005/Atom"', b"").replace(
        b' xmlns="http://naesb.org/espi"', b""
    )
    inherited = tidy.replace(b' xmlns="http://naesb.org/espi"', b"")
    for data in (bare, inherited):
        feed = parse_espi(data)
        assert feed.reads["kwh"].tolist() == pytest.approx([0.5, 0.7, 0.3, 0.4])
        assert (
            feed.notes
            and "elements had no namespace: each read as Atom or ESPI by where it stands" in feed.notes[-1]
        )
    assert parse_espi(tidy).notes == []


def test_a_message_names_a_few_blocks_and_counts_many() -> None:
    from gridjourney.metering.espi import _block_list

    assert _block_list([3, 5]) == "entry[3]/IntervalBlock, entry[5]/IntervalBlock"
    many = _block_list(list(range(5, 735)))
    assert many == "730 interval blocks, entry[5]/IntervalBlock to entry[734]/IntervalBlock"
