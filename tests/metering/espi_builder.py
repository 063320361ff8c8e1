"""ESPI feeds built in tests: `espi_feed` (one UsagePoint, MeterReading, ReadingType and block) and
`espi_wild_feed` (several usage points and readings, gas, registers, missing ReadingTypes, prefixes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BASE = "https://utility.example/espi/1_1/resource"


def espi_feed(
    readings: Sequence[tuple[int, ...]],
    *,
    uom: int = 72,
    power_of_ten: int = 0,
    flow_direction: int = 1,
) -> bytes:
    """`readings`: (start epoch seconds, duration seconds, value[, quality])."""
    interval_readings = []
    for reading in readings:
        start, duration, value = reading[0], reading[1], reading[2]
        quality = reading[3] if len(reading) > 3 else None
        quality_xml = (
            f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>" if quality is not None else ""
        )
        interval_readings.append(
            f"<IntervalReading>{quality_xml}<timePeriod><duration>{duration}</duration><start>{start}</start>"
            f"</timePeriod><value>{value}</value></IntervalReading>"
        )
    up = f"{BASE}/RetailCustomer/9/UsagePoint/7"
    mr = f"{up}/MeterReading/1"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:uuid:feed</id>
  <entry><link rel="self" href="{BASE}/RetailCustomer/9/UsagePoint/7"/>
    <content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint></content></entry>
  <entry><link rel="self" href="{BASE}/LocalTimeParameters/1"/>
    <content><LocalTimeParameters xmlns="http://naesb.org/espi"><dstEndRule>B40E2000</dstEndRule>
      <dstOffset>3600</dstOffset><dstStartRule>360E2000</dstStartRule><tzOffset>-18000</tzOffset>
    </LocalTimeParameters></content></entry>
  <entry><link rel="self" href="{mr}"/><link rel="up" href="{up}/MeterReading"/>
    <link rel="related" href="{mr}/IntervalBlock"/><link rel="related" href="{BASE}/ReadingType/3"/>
    <content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
  <entry><link rel="self" href="{BASE}/ReadingType/3"/>
    <content><ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>4</accumulationBehaviour>
      <flowDirection>{flow_direction}</flowDirection><intervalLength>3600</intervalLength>
      <powerOfTenMultiplier>{power_of_ten}</powerOfTenMultiplier><uom>{uom}</uom></ReadingType></content></entry>
  <entry><link rel="self" href="{mr}/IntervalBlock/1"/><link rel="up" href="{mr}/IntervalBlock"/>
    <content><IntervalBlock xmlns="http://naesb.org/espi">{"".join(interval_readings)}</IntervalBlock></content></entry>
</feed>
""".encode()


@dataclass(frozen=True)
class Series:
    """One MeterReading: its readings (start, duration, value[, quality]) and its ReadingType.

    `uom=None` gives the MeterReading no ReadingType at all. ReadingTypes get their own address unless
    `reading_type_id` names one another series uses too (the same href, given twice)."""

    readings: Sequence[tuple[int, ...]]
    uom: int | None = 72
    accumulation: int = 4
    power_of_ten: int = 0
    reading_type_id: int | None = None


@dataclass(frozen=True)
class Point:
    """One UsagePoint: ServiceCategory kind (0 electricity, 1 gas) and its MeterReadings."""

    series: Sequence[Series]
    kind: int = 0


def espi_wild_feed(points: Sequence[Point], *, prefixed: bool = False, declared: bool = True) -> bytes:
    """A feed as utilities write them: several usage points and readings, optionally with `atom:` and
    `espi:` prefixes on every element (`declared=False` leaves the prefixes undeclared)."""
    a = (lambda tag: f"atom:{tag}") if prefixed else (lambda tag: tag)
    e = (lambda tag: f"espi:{tag}") if prefixed else (lambda tag: tag)
    espi_ns = "" if prefixed else ' xmlns="http://naesb.org/espi"'
    entries: list[str] = []

    def entry(links: list[tuple[str, str]], content: str) -> None:
        link_xml = "".join(f'<{a("link")} rel="{rel}" href="{href}"/>' for rel, href in links)
        entries.append(f"<{a('entry')}>{link_xml}<{a('content')}>{content}</{a('content')}></{a('entry')}>")

    type_number = 100
    for p, point in enumerate(points, start=1):
        up = f"{BASE}/RetailCustomer/9/UsagePoint/{p}"
        kind = f"<{e('ServiceCategory')}><{e('kind')}>{point.kind}</{e('kind')}></{e('ServiceCategory')}>"
        entry([("self", up)], f"<{e('UsagePoint')}{espi_ns}>{kind}</{e('UsagePoint')}>")
        for m, series in enumerate(point.series, start=1):
            mr = f"{up}/MeterReading/{m}"
            type_number += 1
            type_id = series.reading_type_id or type_number
            links = [("self", mr), ("up", f"{up}/MeterReading"), ("related", f"{mr}/IntervalBlock")]
            if series.uom is not None:
                links.append(("related", f"{BASE}/ReadingType/{type_id}"))
                fields = (
                    ("accumulationBehaviour", series.accumulation),
                    ("flowDirection", 1),
                    ("intervalLength", 3600),
                    ("powerOfTenMultiplier", series.power_of_ten),
                    ("uom", series.uom),
                )
                body = "".join(f"<{e(name)}>{value}</{e(name)}>" for name, value in fields)
                entry(
                    [("self", f"{BASE}/ReadingType/{type_id}")],
                    f"<{e('ReadingType')}{espi_ns}>{body}</{e('ReadingType')}>",
                )
            entry(links, f"<{e('MeterReading')}{espi_ns}/>")
            readings = "".join(
                f"<{e('IntervalReading')}><{e('timePeriod')}><{e('duration')}>{r[1]}</{e('duration')}>"
                f"<{e('start')}>{r[0]}</{e('start')}></{e('timePeriod')}><{e('value')}>{r[2]}</{e('value')}>"
                f"</{e('IntervalReading')}>"
                for r in series.readings
            )
            entry(
                [("self", f"{mr}/IntervalBlock/1"), ("up", f"{mr}/IntervalBlock")],
                f"<{e('IntervalBlock')}{espi_ns}>{readings}</{e('IntervalBlock')}>",
            )
    if prefixed:
        namespaces = ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"'
        root = f"<atom:feed{namespaces if declared else ''}>"
        end = "</atom:feed>"
    else:
        root, end = '<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>"
    body = "\n  ".join([f"<{a('id')}>urn:uuid:feed</{a('id')}>", *entries])
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{root}\n  {body}\n{end}\n'.encode()
