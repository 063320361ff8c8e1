"""Meter reads in: a Green Button file (ESPI XML or CSV) as the request body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, status

from gridjourney.api.deps import EngineDep, EventsWriter, read_limited_body
from gridjourney.api.problems import RETRY_AFTER_SECONDS, ApiProblem, FieldError, invalid, problem_responses
from gridjourney.events.fields import CUSTOMER_ID_PATTERN
from gridjourney.metering.greenbutton import (
    GreenButtonError,
    ImportReport,
    import_greenbutton,
    looks_like_xml,
)

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# A year of 15-minute ESPI XML is ~10 MB; the event body limit (1 MB) is far too small for files.
MAX_GREENBUTTON_BYTES = 64 * 1024 * 1024
# A file at the limit holds its body and, parsed, up to about 0.7 GB: a few at once per API process,
# the rest wait their turn a while, then 503 (a utility's imports are a few files at a time).
IMPORTS_AT_ONCE = 2
IMPORT_SLOT_WAIT_S = 30.0
# A slot is held while the body arrives: a sender trickling bytes would otherwise keep it as long as it
# likes. 120 s lets 64 MB come at about 0.5 MB/s.
BODY_READ_DEADLINE_S = 120.0


@asynccontextmanager
async def _import_slot(request: Request) -> AsyncIterator[None]:
    """One of the app's import slots, taken before the body is read (a waiting upload stays in the
    socket, not in memory); 503 with Retry-After when none frees within IMPORT_SLOT_WAIT_S."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "import_slots", None)
    if slots is None:  # one set per app (per API process), made on its loop at its first import
        slots = request.app.state.import_slots = asyncio.Semaphore(IMPORTS_AT_ONCE)
    try:
        await asyncio.wait_for(slots.acquire(), IMPORT_SLOT_WAIT_S)
    except TimeoutError:
        raise ApiProblem(
            503,
            "imports-busy",
            "Other files are being imported",
            f"this API process imports {IMPORTS_AT_ONCE} files at once and none finished within "
            f"{IMPORT_SLOT_WAIT_S:g} s; send the file again",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    try:
        yield
    finally:
        slots.release()


XML_TYPES = {"application/xml", "text/xml", "application/atom+xml"}
# Trimmed examples for the OpenAPI document: one hourly reading of each format.
ESPI_EXAMPLE = """<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <entry><content><espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>
    <espi:intervalLength>3600</espi:intervalLength><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>
    <espi:uom>72</espi:uom></espi:ReadingType></content></entry>
  <entry><content><espi:IntervalBlock><espi:interval><espi:duration>3600</espi:duration>
    <espi:start>1293868800</espi:start></espi:interval>
    <espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration>
      <espi:start>1293868800</espi:start></espi:timePeriod><espi:value>450</espi:value></espi:IntervalReading>
  </espi:IntervalBlock></content></entry>
</feed>
"""
CSV_EXAMPLE = """Name,ROSA DIAZ
Address,"123 MAIN ST, SPRINGFIELD"
Account Number,1234567890

TYPE,DATE,START TIME,END TIME,USAGE,UNITS,NOTES
Electric usage,2026-11-01,00:00,00:59,0.45,kWh,
"""
CSV_TYPES = {"text/csv", "application/csv"}


@router.post(
    "/{customer_id}/reads/greenbutton",
    status_code=status.HTTP_200_OK,
    summary="Import a Green Button file of interval reads",
    description=(
        "The body is the file: ESPI XML (`application/xml`) or the Green Button CSV export "
        "(`text/csv`; its times are local, in `time_zone` or else the customer's zone). Parts that are not "
        "electric interval energy (a gas usage point or gas rows, cumulative registers, blocks with no "
        "ReadingType unless `assume_uom` names their unit) are skipped and listed in `skipped`; a "
        "malformed file, or one with nothing else, answers 422 naming the element and the reason. "
        "Reads already stored are kept (re-sending a file changes "
        "nothing; overlapping files merge). Gaps, duplicates, negative values and DST repeats are "
        "reported, not dropped. One `meter.reads_imported` event is appended per file."
    ),
    responses=problem_responses(401, 403, 408, 410, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{
                    media: {"schema": {"type": "string"}, "examples": {"espi": {"value": ESPI_EXAMPLE}}}
                    for media in sorted(XML_TYPES)
                },
                # application/csv is accepted too, but documented once: text/csv is the registered type.
                "text/csv": {"schema": {"type": "string"}, "examples": {"export": {"value": CSV_EXAMPLE}}},
            },
        }
    },
)
async def import_reads(
    request: Request,
    engine: EngineDep,
    _: EventsWriter,
    customer_id: Annotated[
        str, Path(pattern=CUSTOMER_ID_PATTERN, description="The customer the reads are of.")
    ],
    time_zone: Annotated[
        str | None, Query(max_length=64, description="IANA zone of a CSV's local times.")
    ] = None,
    assume_uom: Annotated[
        Literal["Wh", "kWh"] | None,
        Query(description="Unit of ESPI interval blocks that have no ReadingType (else they are refused)."),
    ] = None,
) -> ImportReport:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in XML_TYPES | CSV_TYPES:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Unsupported content type",
            f"got {content_type or 'no content type'}; use application/xml or text/csv",
        )
    async with _import_slot(request):
        return await _import(request, engine, content_type, customer_id, time_zone, assume_uom)


async def _import(
    request: Request,
    engine: EngineDep,
    content_type: str,
    customer_id: str,
    time_zone: str | None,
    assume_uom: Literal["Wh", "kWh"] | None,
) -> ImportReport:
    try:
        body = await asyncio.wait_for(read_limited_body(request, MAX_GREENBUTTON_BYTES), BODY_READ_DEADLINE_S)
    except TimeoutError:
        raise ApiProblem(
            408,
            "body-too-slow",
            "The file did not arrive in time",
            f"the body must arrive within {BODY_READ_DEADLINE_S:g} s; nothing was stored, send it again",
        ) from None
    looks_xml = looks_like_xml(body)
    if looks_xml != (content_type in XML_TYPES):
        raise invalid(
            "the body does not match its content type",
            [
                FieldError(
                    field="body",
                    reason=f"declared {content_type}, but the body is {'XML' if looks_xml else 'not XML'}",
                )
            ],
        )
    try:
        return await import_greenbutton(engine, body, customer_id, time_zone=time_zone, assume_uom=assume_uom)
    except GreenButtonError as exc:
        field = f"body.{exc.element}" + (f" (line {exc.line})" if exc.line is not None else "")
        raise invalid(
            f"the file was refused, nothing stored: {exc}",
            [FieldError(field=field, reason=exc.reason, line=exc.line)],
        ) from None
    except UnicodeDecodeError as exc:
        raise invalid("the file is not UTF-8", [FieldError(field="body", reason=str(exc))]) from None
