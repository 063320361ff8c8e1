"""Small ESPI feeds built in tests: one UsagePoint, one MeterReading, one ReadingType, one block."""

from __future__ import annotations

from collections.abc import Sequence

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
