"""POST /v1/customers/{id}/reads/greenbutton: the file as the body, the import report as JSON."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import KeyFactory
from tests.metering.espi_builder import Point, Series, espi_feed, espi_wild_feed

SAMPLE = Path(__file__).parents[1] / "metering" / "data" / "coastal_multi_family_hourly_2011.xml"
URL = "/v1/customers/cust-9/reads/greenbutton"


async def test_the_sample_is_imported_once(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    response = await client.post(URL, content=SAMPLE.read_bytes(), headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["reads_in_file"], report["reads_stored"], report["already_imported"]) == (
        8760,
        8760,
        False,
    )
    assert report["meter_ids"] == ["cust-9:1"] and report["issue_counts"] == {"dst_repeat": 1}
    again = (await client.post(URL, content=SAMPLE.read_bytes(), headers=headers)).json()
    assert (again["reads_stored"], again["already_imported"], again["event_id"]) == (
        0,
        True,
        report["event_id"],
    )


async def test_a_malformed_file_is_a_problem_naming_the_element(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    response = await client.post(URL, content=espi_feed([(1730606400, 3600, 5)], uom=169), headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "body.ReadingType/uom" and "169 (therm)" in error["reason"]


async def test_scope_and_content_type_are_checked(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    reader = await make_key("journeys:read") | {"Content-Type": "application/xml"}
    assert (await client.post(URL, content=b"<feed/>", headers=reader)).status_code == 403
    writer = await make_key("events:write")
    plain = await client.post(URL, content=b"x", headers=writer | {"Content-Type": "text/plain"})
    assert plain.status_code == 415
    csv = "TYPE,DATE,START TIME,END TIME,USAGE,UNITS\nElectric usage,2024-01-02,00:00,00:59,1.5,kWh\n"
    response = await client.post(
        URL,
        params={"time_zone": "America/Chicago"},
        content=csv.encode(),
        headers=writer | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["total_kwh"] == 1.5 and response.json()["first_read_at"].startswith(
        "2024-01-02T06:00"
    )


async def test_a_customer_id_off_the_pattern_is_refused_before_anything_is_read(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    # The import's event must be able to name the customer: an id the log cannot hold is a 422, not a 500.
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    for customer_id in ("a b", "-x", "x" * 101):
        response = await client.post(
            f"/v1/customers/{customer_id}/reads/greenbutton", content=SAMPLE.read_bytes(), headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "customer_id"


async def test_blocks_without_a_reading_type_need_assume_uom(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = await make_key("events:write") | {"Content-Type": "application/xml"}
    feed = espi_wild_feed([Point([Series([(1704067200, 3600, 1500)], uom=None)])])
    refused = await client.post(URL, content=feed, headers=headers)
    assert refused.status_code == 422 and "no ReadingType" in refused.json()["errors"][0]["reason"]
    response = await client.post(URL, params={"assume_uom": "Wh"}, content=feed, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["total_kwh"] == 1.5 and "values read as Wh" in response.json()["notes"][0]
    wrong = await client.post(URL, params={"assume_uom": "therm"}, content=feed, headers=headers)
    assert wrong.status_code == 422 and "assume_uom" in wrong.text
