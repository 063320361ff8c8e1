"""Green Button ESPI XML (NAESB REQ.21 Atom feed) to interval reads.

The feed's entries are linked by their `link` hrefs: a MeterReading sits under its UsagePoint and
names its ReadingType; an IntervalBlock sits under its MeterReading. Values are scaled by
10^powerOfTenMultiplier and converted from `uom` to kWh; units that are not electric energy are refused
by name, and so are cumulative register readings. Received energy (flowDirection 19) is stored as
negative kWh. The XML is parsed by expat with document type declarations refused, so no entity can
expand (the "billion laughs") and no external resource is read.
"""

from __future__ import annotations

import pyexpat
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from gridjourney.metering.errors import GreenButtonError

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"

# ESPI UomKind codes: the electric energy ones (to kWh) and names for refusing the others.
KWH_PER_UNIT = {72: 0.001}  # Wh; kWh is Wh with powerOfTenMultiplier 3
UOM_NAMES = {
    0: "not applicable", 5: "A (current)", 29: "V (voltage)", 33: "Hz", 38: "W (power)", 61: "VA",
    63: "VAr", 71: "VAh (apparent energy)", 72: "Wh", 73: "VArh (reactive energy)", 119: "ft3",
    122: "ft3/h", 125: "m3", 126: "m3/h", 128: "US gal", 132: "BTU", 133: "BTU/h", 134: "L",
    169: "therm",
}  # fmt: skip
# accumulationBehaviour: 4 = deltaData (an interval's own energy) is the only one summed here.
ACCUMULATION_NAMES = {1: "bulkQuantity", 2: "continuousCumulative", 3: "cumulative", 6: "indicating"}
FLOW_SIGN = {1: 1.0, 4: 1.0, 19: -1.0}  # forward (delivered), net, reverse (received)


@dataclass(frozen=True)
class LocalTime:
    """LocalTimeParameters: standard offset, DST offset and the two DST rules (ESPI DstRuleType)."""

    tz_offset: int
    dst_offset: int
    dst_start_rule: int | None
    dst_end_rule: int | None

    def _rule_instant(self, rule: int, year: int) -> datetime | None:
        """The local (standard-time) moment a DstRuleType names in `year`; None when not decodable."""
        seconds, hours = rule & 0xFFF, (rule >> 12) & 0x1F
        weekday, day, operator, month = (
            (rule >> 17) & 0x7,
            (rule >> 20) & 0x1F,
            (rule >> 25) & 0x7,
            rule >> 28,
        )
        if not 1 <= month <= 12:
            return None
        if operator == 0:  # the day of the month itself
            date = datetime(year, month, max(day, 1))
        elif 1 <= weekday <= 7 and operator in (1, 2, 3, 4, 5, 6):
            first = datetime(year, month, 1)
            if operator == 1:  # the weekday on or after the day of the month
                first = datetime(year, month, max(day, 1))
            date = first + timedelta(days=(weekday - 1 - first.weekday()) % 7)
            if operator in (3, 4, 5):  # second, third, fourth occurrence
                date += timedelta(weeks=operator - 2)
            elif operator == 6:  # the last occurrence
                while (date + timedelta(weeks=1)).month == month:
                    date += timedelta(weeks=1)
        else:
            return None
        return date + timedelta(hours=hours, seconds=seconds)

    def wall_times(self, utc: pd.Series) -> pd.Series:
        """Local wall-clock times (naive) of UTC instants."""
        standard: pd.Series = utc.dt.tz_convert("UTC").dt.tz_localize(None) + pd.Timedelta(
            seconds=self.tz_offset
        )
        if not self.dst_offset or self.dst_start_rule is None or self.dst_end_rule is None:
            return standard
        in_dst = pd.Series(False, index=utc.index)
        for year in sorted(set(standard.dt.year.dropna().astype(int))):
            start = self._rule_instant(self.dst_start_rule, year)
            end = self._rule_instant(self.dst_end_rule, year)
            if start is None or end is None:
                return standard
            # The end rule is given in daylight time: in standard time it falls an offset earlier.
            end_standard = pd.Timestamp(end) - pd.Timedelta(seconds=self.dst_offset)
            this_year = standard.dt.year == year
            if start < end_standard:
                in_dst |= this_year & (standard >= start) & (standard < end_standard)
            else:  # southern hemisphere: DST spans the new year
                in_dst |= this_year & ((standard >= start) | (standard < end_standard))
        wall: pd.Series = standard + pd.to_timedelta(in_dst.astype(int) * self.dst_offset, unit="s")
        return wall


@dataclass
class EspiFeed:
    reads: pd.DataFrame  # meter_key, read_at, interval_seconds, kwh, quality, series
    local_time: LocalTime | None


def parse_xml(data: bytes) -> ET.Element:
    """Parse with expat, refusing any DTD; a syntax error names the open element, line and reason."""
    builder = ET.TreeBuilder()
    parser = pyexpat.ParserCreate(namespace_separator="}")
    stack: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = "{" + tag if "}" in tag else tag
        stack.append(name.rsplit("}", 1)[-1])
        builder.start(name, attrs)

    def end(tag: str) -> None:
        stack.pop()
        builder.end("{" + tag if "}" in tag else tag)

    def refuse_doctype(*_: Any) -> None:
        raise GreenButtonError("DOCTYPE", "document type declarations are refused (entities could expand)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as exc:
        element = "/".join(stack) or "document"
        raise GreenButtonError(
            element, f"malformed XML: {pyexpat.errors.messages[exc.code]}", exc.lineno
        ) from None
    return builder.close()


def _int(element: ET.Element | None, path: str, where: str, default: int | None = None) -> int | None:
    node = element.find(path) if element is not None else None
    if node is None or node.text is None or not node.text.strip():
        return default
    try:
        return int(node.text.strip())
    except ValueError:
        raise GreenButtonError(
            f"{where}/{path.replace(ESPI, '')}", f"not an integer: {node.text.strip()!r}"
        ) from None


def _links(entry: ET.Element) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for link in entry.findall(f"{ATOM}link"):
        links.setdefault(link.get("rel", ""), []).append(link.get("href", "").rstrip("/"))
    return links


def _content(entry: ET.Element) -> ET.Element | None:
    content = entry.find(f"{ATOM}content")
    return None if content is None or not len(content) else content[0]


def _scale(reading_type: ET.Element | None, where: str) -> float:
    """kWh per raw value, or a refusal naming the unit or accumulation."""
    if reading_type is None:
        raise GreenButtonError(where, "no ReadingType: the unit of the values is unknown")
    uom = _int(reading_type, f"{ESPI}uom", "ReadingType")
    if uom is None:
        raise GreenButtonError("ReadingType/uom", "missing: the unit of the values is unknown")
    if uom not in KWH_PER_UNIT:
        name = UOM_NAMES.get(uom)
        reason = f"uom {uom} ({name}) is not electric energy" if name else f"uom {uom} is not a known unit"
        raise GreenButtonError("ReadingType/uom", reason + "; refused rather than guessed")
    accumulation = _int(reading_type, f"{ESPI}accumulationBehaviour", "ReadingType", 4)
    if accumulation in ACCUMULATION_NAMES:
        raise GreenButtonError(
            "ReadingType/accumulationBehaviour",
            f"{accumulation} ({ACCUMULATION_NAMES[accumulation]}) readings are registers, not intervals",
        )
    flow = _int(reading_type, f"{ESPI}flowDirection", "ReadingType", 1)
    if flow not in FLOW_SIGN:
        raise GreenButtonError(
            "ReadingType/flowDirection", f"{flow} is neither forward (1), net (4) nor reverse (19)"
        )
    power = _int(reading_type, f"{ESPI}powerOfTenMultiplier", "ReadingType", 0) or 0
    return KWH_PER_UNIT[uom] * 10.0**power * FLOW_SIGN[flow]


def _parent(href: str, levels: int) -> str:
    return href.rsplit("/", levels)[0] if href.count("/") >= levels else ""


def parse_espi(data: bytes) -> EspiFeed:
    root = parse_xml(data)
    if root.tag != f"{ATOM}feed":
        raise GreenButtonError(root.tag.rsplit("}", 1)[-1], "the document is not an Atom feed")
    kinds: dict[str, list[tuple[int, ET.Element, ET.Element, dict[str, list[str]]]]] = {}
    for n, entry in enumerate(root.findall(f"{ATOM}entry"), start=1):
        content = _content(entry)
        if content is not None:
            kinds.setdefault(content.tag.removeprefix(ESPI), []).append((n, entry, content, _links(entry)))

    reading_types = {
        links.get("self", [""])[0]: content for _, _, content, links in kinds.get("ReadingType", [])
    }
    local_time = None
    for _, _, content, _ in kinds.get("LocalTimeParameters", [])[:1]:
        where = "LocalTimeParameters"
        local_time = LocalTime(
            tz_offset=_int(content, f"{ESPI}tzOffset", where, 0) or 0,
            dst_offset=_int(content, f"{ESPI}dstOffset", where, 0) or 0,
            dst_start_rule=int(content.findtext(f"{ESPI}dstStartRule", "0") or "0", 16) or None,
            dst_end_rule=int(content.findtext(f"{ESPI}dstEndRule", "0") or "0", 16) or None,
        )
    usage_points = [links.get("self", [""])[0] for _, _, _, links in kinds.get("UsagePoint", [])]

    # MeterReading: its ReadingType's scale, its usage point, and the hrefs its IntervalBlocks point up to.
    meter_readings: list[tuple[float, str, set[str]]] = []
    for n, _, _, links in kinds.get("MeterReading", []):
        self_href = links.get("self", [""])[0]
        related = links.get("related", [])
        reading_type = next((reading_types[h] for h in related if h in reading_types), None)
        if reading_type is None and len(reading_types) == 1:
            reading_type = next(iter(reading_types.values()))
        scale = _scale(reading_type, f"entry[{n}]/MeterReading")
        point = _parent(self_href, 2)
        meter_key = (
            point.rsplit("UsagePoint/", 1)[-1] if "UsagePoint/" in point else (usage_points or ["1"])[0]
        )
        meter_readings.append((scale, meter_key.rsplit("/", 1)[-1] or "1", {*related, self_href}))

    rows: list[tuple[str, int, int, int, int | None, int]] = []
    scales: list[float] = []
    for n, _, block, links in kinds.get("IntervalBlock", []):
        up = links.get("up", [""])[0]
        candidates = [
            i for i, (_, _, hrefs) in enumerate(meter_readings) if up in hrefs or _parent(up, 1) in hrefs
        ]
        if not candidates and len(meter_readings) == 1:
            candidates = [0]
        if len(candidates) != 1:
            raise GreenButtonError(
                f"entry[{n}]/IntervalBlock", f"cannot tell which MeterReading it belongs to (up={up!r})"
            )
        series = candidates[0]
        scale, meter_key, _ = meter_readings[series]
        for r, reading in enumerate(block.findall(f"{ESPI}IntervalReading"), start=1):
            where = f"entry[{n}]/IntervalBlock/IntervalReading[{r}]"
            start = _int(reading, f"{ESPI}timePeriod/{ESPI}start", where)
            duration = _int(reading, f"{ESPI}timePeriod/{ESPI}duration", where)
            value = _int(reading, f"{ESPI}value", where)
            if start is None or duration is None or value is None:
                raise GreenButtonError(where, "timePeriod/start, timePeriod/duration and value are required")
            if duration <= 0:
                raise GreenButtonError(f"{where}/timePeriod/duration", f"must be positive, got {duration}")
            quality = _int(reading, f"{ESPI}ReadingQuality/{ESPI}quality", where)
            rows.append((meter_key, start, duration, value, quality, series))
            scales.append(scale)
    if not rows:
        raise GreenButtonError("feed", "no IntervalReading in the file")
    frame = pd.DataFrame(
        rows, columns=["meter_key", "start", "interval_seconds", "value", "quality", "series"]
    )
    frame["read_at"] = pd.to_datetime(frame["start"], unit="s", utc=True)
    frame["kwh"] = frame["value"].astype("float64") * pd.Series(scales, dtype="float64")
    frame["quality"] = frame["quality"].astype("Int16")
    del frame["start"], frame["value"]
    return EspiFeed(reads=frame, local_time=local_time)
