"""Green Button ESPI XML (NAESB REQ.21 Atom feed) to interval reads.

The feed's entries are linked by their `link` hrefs: a MeterReading sits under its UsagePoint and
names its ReadingType; an IntervalBlock sits under its MeterReading. Values are scaled by
10^powerOfTenMultiplier and converted from `uom` to kWh. Received energy (flowDirection 19) is stored
as negative kWh. What cannot be read as electric interval energy is skipped and reported by name: a
gas (or water) UsagePoint, a unit that is not electric energy, cumulative register readings (also
when they share an address with interval ones), blocks whose ReadingType is missing (unless the
caller assumes a unit). A file is refused only when nothing is left. The XML is read by espi_xml.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from gridjourney.metering.errors import GreenButtonError, SkippedSeries
from gridjourney.metering.espi_local_time import LocalTime
from gridjourney.metering.espi_xml import parse_xml

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
SERVICE_KINDS = {0: "electricity", 1: "gas", 2: "water", 3: "time", 4: "pressure", 5: "heat", 6: "refuse",
                 7: "sewerage", 8: "rates", 9: "tvLicence", 10: "internet"}  # fmt: skip
# A day of hourly energy never only rises; a register does. Fewer readings prove nothing.
MIN_REGISTER_READINGS = 24
# What `--assume-uom` may say of blocks whose ReadingType is missing: kWh per raw value.
ASSUMABLE_UOMS = {"Wh": 0.001, "kWh": 1.0}


@dataclass
class EspiFeed:
    reads: pd.DataFrame  # meter_key, read_at, interval_seconds, kwh, quality, series
    local_time: LocalTime | None
    skipped: list[SkippedSeries] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was assumed or repaired to read the file


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


def _accumulation(reading_type: ET.Element) -> int | None:
    return _int(reading_type, f"{ESPI}accumulationBehaviour", "ReadingType", 4)


def _scale_or_assumed(reading_type: ET.Element | None, where: str, assume_uom: str | None) -> float:
    if reading_type is not None:
        return _scale(reading_type, f"{where}/ReadingType")
    if assume_uom is None:
        raise GreenButtonError(
            where, "no ReadingType: the unit of the values is unknown (--assume-uom Wh reads them as Wh)"
        )
    return ASSUMABLE_UOMS[assume_uom]


def _parent(href: str, levels: int) -> str:
    return href.rsplit("/", levels)[0] if href.count("/") >= levels else ""


@dataclass
class _Series:
    """One MeterReading: its meter, the hrefs its blocks point up to, and its scale or why it is left out."""

    meter_key: str
    hrefs: set[str]
    element: str
    scale: float | None = None
    skip: GreenButtonError | None = None
    blocks: list[int] = field(default_factory=list)
    readings: int = 0
    mixed_type: str | None = None  # its ReadingType address also holds a cumulative one


def _reading_types(
    entries: list[tuple[int, ET.Element, ET.Element, dict[str, list[str]]]], skipped: list[SkippedSeries]
) -> tuple[dict[str, ET.Element], set[str]]:
    """ReadingTypes by href, and the hrefs that hold a cumulative one beside the interval one (the
    interval one is kept, the other reported); two different interval ones at one href are refused."""
    by_href: dict[str, list[tuple[int, ET.Element]]] = {}
    for n, _, content, links in entries:
        by_href.setdefault(links.get("self", [""])[0], []).append((n, content))
    chosen: dict[str, ET.Element] = {}
    mixed: set[str] = set()
    for href, types in by_href.items():
        intervals = [(n, t) for n, t in types if _accumulation(t) not in ACCUMULATION_NAMES]
        distinct = {ET.tostring(t) for _, t in intervals}
        if len(distinct) > 1:
            raise GreenButtonError(
                f"entry[{intervals[1][0]}]/ReadingType", f"{href} is given twice with different units"
            )
        kept = intervals[0][1] if intervals else types[0][1]
        chosen[href] = kept
        for n, other in types:
            accumulation = _accumulation(other)
            if other is not kept and accumulation in ACCUMULATION_NAMES:
                mixed.add(href)
                skipped.append(
                    SkippedSeries(
                        f"entry[{n}]/ReadingType",
                        f"{accumulation} ({ACCUMULATION_NAMES[accumulation]}) at the same address as an "
                        "interval ReadingType: the interval one is used",
                    )
                )
    return chosen, mixed


def _service_kinds(entries: list[tuple[int, ET.Element, ET.Element, dict[str, list[str]]]]) -> dict[str, int]:
    """UsagePoint href -> ServiceCategory kind (0 electricity, 1 gas, 2 water, ...)."""
    kinds: dict[str, int] = {}
    for _, _, content, links in entries:
        kind = _int(content, f"{ESPI}ServiceCategory/{ESPI}kind", "UsagePoint", 0)
        kinds[links.get("self", [""])[0]] = kind if kind is not None else 0
    return kinds


def _drop_registers(frame: pd.DataFrame, series: list[_Series]) -> pd.DataFrame:
    """Where MeterReadings share a ReadingType address that holds an interval and a cumulative type,
    the links cannot say which readings are registers: a series whose values never fall is one."""
    sharing: dict[str, list[int]] = {}
    for i, s in enumerate(series):
        if s.mixed_type is not None and s.scale is not None:
            sharing.setdefault(s.mixed_type, []).append(i)
    for indices in sharing.values():
        if len(indices) < 2:
            continue
        for i in indices:
            values = frame.loc[frame["series"] == i].sort_values("start")["value"]
            if (
                len(values) >= MIN_REGISTER_READINGS
                and values.is_monotonic_increasing
                and values.iloc[-1] > values.iloc[0]
            ):
                series[i].scale = None
                series[i].readings = len(values)
                series[i].skip = GreenButtonError(
                    series[i].element,
                    "its values only ever grow: the cumulative readings of a ReadingType address that "
                    "also has an interval one",
                )
                frame = frame[frame["series"] != i]
    return frame.reset_index(drop=True)


def parse_espi(data: bytes, *, assume_uom: str | None = None) -> EspiFeed:
    """The file's electric interval reads; what cannot be read as such is skipped and reported, and the
    file is refused only when nothing is left (or a part's link cannot be followed)."""
    if assume_uom is not None and assume_uom not in ASSUMABLE_UOMS:
        raise GreenButtonError("assume-uom", f"{assume_uom!r}: one of {', '.join(ASSUMABLE_UOMS)}")
    root, notes = parse_xml(data)
    if root.tag != f"{ATOM}feed":
        raise GreenButtonError(root.tag.rsplit("}", 1)[-1], "the document is not an Atom feed")
    kinds: dict[str, list[tuple[int, ET.Element, ET.Element, dict[str, list[str]]]]] = {}
    for n, entry in enumerate(root.findall(f"{ATOM}entry"), start=1):
        content = _content(entry)
        if content is not None:
            kinds.setdefault(content.tag.removeprefix(ESPI), []).append((n, entry, content, _links(entry)))

    skipped: list[SkippedSeries] = []
    reading_types, mixed_types = _reading_types(kinds.get("ReadingType", []), skipped)
    local_time = None
    for _, _, content, _ in kinds.get("LocalTimeParameters", [])[:1]:
        where = "LocalTimeParameters"
        local_time = LocalTime(
            tz_offset=_int(content, f"{ESPI}tzOffset", where, 0) or 0,
            dst_offset=_int(content, f"{ESPI}dstOffset", where, 0) or 0,
            dst_start_rule=int(content.findtext(f"{ESPI}dstStartRule", "0") or "0", 16) or None,
            dst_end_rule=int(content.findtext(f"{ESPI}dstEndRule", "0") or "0", 16) or None,
        )
    service = _service_kinds(kinds.get("UsagePoint", []))
    usage_points = list(service)
    series: list[_Series] = []
    meter_entries = kinds.get("MeterReading", [])
    if not meter_entries and kinds.get("IntervalBlock"):
        # Blocks with no MeterReading at all: one implicit series, of the file's only ReadingType if any.
        meter_entries = [(0, root, root, {"self": [""], "related": []})]
    # A file whose MeterReadings link to no ReadingType, with one ReadingType, means that one for all;
    # where others do link theirs, a MeterReading without a link has none.
    linked = any(h in reading_types for *_, links in meter_entries for h in links.get("related", []))
    only_type = next(iter(reading_types.values())) if len(reading_types) == 1 and not linked else None
    for n, _, _, links in meter_entries:
        self_href = links.get("self", [""])[0]
        related = links.get("related", [])
        reading_type = next((reading_types[h] for h in related if h in reading_types), only_type)
        point = _parent(self_href, 2)
        key = point.rsplit("UsagePoint/", 1)[-1] if "UsagePoint/" in point else (usage_points or ["1"])[0]
        one = _Series(key.rsplit("/", 1)[-1] or "1", {*related, self_href}, f"entry[{n}]/MeterReading")
        one.mixed_type = next((h for h in related if h in mixed_types), None)
        kind = service.get(point, 0)
        try:
            if kind != 0:
                name = SERVICE_KINDS.get(kind, "not electricity")
                raise GreenButtonError(
                    one.element, f"its UsagePoint is {name} (ServiceCategory kind {kind}), not electricity"
                )
            one.scale = _scale_or_assumed(reading_type, one.element, assume_uom)
            if reading_type is None:
                notes.append(f"{one.element}: no ReadingType; values read as {assume_uom} (--assume-uom)")
        except GreenButtonError as exc:
            one.skip = exc
        series.append(one)

    rows: list[tuple[str, int, int, int, int | None, int]] = []
    for n, _, block, links in kinds.get("IntervalBlock", []):
        up = links.get("up", [""])[0]
        candidates = [i for i, s in enumerate(series) if up in s.hrefs or _parent(up, 1) in s.hrefs]
        if not candidates and len(series) == 1:
            candidates = [0]
        if len(candidates) != 1:
            raise GreenButtonError(
                f"entry[{n}]/IntervalBlock", f"cannot tell which MeterReading it belongs to (up={up!r})"
            )
        index = candidates[0]
        one = series[index]
        one.blocks.append(n)
        if one.scale is None:
            one.readings += len(block.findall(f"{ESPI}IntervalReading"))
            continue
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
            rows.append((one.meter_key, start, duration, value, quality, index))
    frame = pd.DataFrame(
        rows, columns=["meter_key", "start", "interval_seconds", "value", "quality", "series"]
    )
    frame = _drop_registers(frame, series)
    left_out = [s for s in series if s.skip is not None and s.blocks]
    for s in left_out:
        assert s.skip is not None
        blocks = _block_list(s.blocks)
        skipped.append(SkippedSeries(f"{s.skip.element} ({blocks})", s.skip.reason, s.readings))
    if frame.empty:
        first = left_out[0].skip if left_out else None
        if first is not None:
            others = f"; {len(left_out) - 1} other series skipped too" if len(left_out) > 1 else ""
            blocks = _block_list(left_out[0].blocks)
            raise GreenButtonError(first.element, f"{first.reason} (in {blocks}{others})")
        raise GreenButtonError("feed", "no IntervalReading in the file")
    scales = [series[i].scale or 0.0 for i in frame["series"]]
    frame["read_at"] = pd.to_datetime(frame["start"], unit="s", utc=True)
    frame["kwh"] = frame["value"].astype("float64") * pd.Series(scales, dtype="float64")
    frame["quality"] = frame["quality"].astype("Int16")
    del frame["start"], frame["value"]
    return EspiFeed(reads=frame, local_time=local_time, skipped=skipped, notes=notes)


def _block_list(blocks: Sequence[int]) -> str:
    """The interval blocks a message names: each of a few, or how many and the first and last (a
    year of daily blocks listed one by one made a 19 KB line)."""
    if len(blocks) <= 3:
        return ", ".join(f"entry[{b}]/IntervalBlock" for b in blocks)
    first, last = blocks[0], blocks[-1]
    return f"{len(blocks)} interval blocks, entry[{first}]/IntervalBlock to entry[{last}]/IntervalBlock"
