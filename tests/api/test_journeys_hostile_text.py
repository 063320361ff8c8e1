"""Publishing and backtesting journeys whose templates or expressions a server cannot take as they
are: a template saved as Windows-1252, an expression nested thousands deep or tens of thousands of
characters long, bytes a database refuses. Each is a 422 naming the field, line and reason, with
nothing stored; none is a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gridjourney.config import Settings
from tests.api.conftest import KeyFactory
from tests.backtest.builders import JOURNEY, write_templates

YAML = {"Content-Type": "application/yaml"}
PERIOD = {"from": "2026-01-01", "to": "2026-01-31"}
DEEP = "-" * 5000 + "event.projected_amount > 1"
LONG = "+".join(["1"] * 20_000) + " > event.projected_amount"


@pytest.fixture(autouse=True)
def templates(settings: Settings) -> Path:
    return write_templates(settings.templates_dir)


def with_condition(condition: str) -> str:
    return JOURNEY.replace('when: "event.projected_amount > 100"', f'when: "{condition}"')


async def test_a_template_saved_as_windows_1252_is_422_at_its_send_and_byte(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    (settings.templates_dir / "email/en/nudge.j2").write_bytes(b"Subject: It\x92s time\n\nSave now.\n")
    response = await client.post("/v1/journeys", content=JOURNEY, headers=admin | YAML)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body" and (error["line"], error["column"]) == (9, 46)
    assert error["reason"] == "template email/en/nudge.j2:1:12: not UTF-8 (byte 0x92)"
    assert "UTF-8" in error["hint"]
    assert (await client.get("/v1/journeys/bill_nudge", headers=admin)).status_code == 404

    draft = {"source_yaml": JOURNEY, **PERIOD}
    response = await client.post("/v1/journeys/backtest", json=draft, headers=admin)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "source_yaml" and error["reason"].endswith("not UTF-8 (byte 0x92)")


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (DEEP, "expression nested too deeply"),
        (LONG, "expression too long: 40,024 characters, at most 20,000"),
        ("event.projected_amount in " + "[" * 150 + "1" + "]" * 150, "too deeply (153 levels; at most 100)"),
    ],
    ids=["5000 signs", "20000 terms", "150 lists"],
)
async def test_an_expression_beyond_the_bounds_is_422_at_the_expression(
    client: httpx.AsyncClient, admin: dict[str, str], condition: str, reason: str
) -> None:
    source = with_condition(condition)
    response = await client.post("/v1/journeys", content=source, headers=admin | YAML)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["line"]) == ("body", 4) and reason in error["reason"]
    assert len(error["reason"]) < 400  # the expression is quoted cut short

    response = await client.post(
        "/v1/journeys/backtest", json={"source_yaml": source, **PERIOD}, headers=admin
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["line"]) == ("source_yaml", 4) and reason in error["reason"]


async def test_a_long_flat_condition_within_the_bounds_is_published(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flat = " or ".join(f"event.projected_amount == {n}" for n in range(300))  # 9 KB, 3 levels
    response = await client.post("/v1/journeys", content=with_condition(flat), headers=admin | YAML)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (b"id: bill_nudge\nname: caf\xe9\n", 2, "not UTF-8 (byte 0xe9)"),
        (JOURNEY.replace("bill_nudge", 'bill_nudge\nname: "a\\uD800"').encode(), 3, "lone UTF-16 surrogate"),
        (JOURNEY.replace("bill_nudge", 'bill_nudge\nname: "a\\0"').encode(), 3, "NUL character"),
    ],
    ids=["latin-1 body", "surrogate escape", "nul escape"],
)
async def test_a_body_a_database_cannot_store_is_422_at_its_line(
    client: httpx.AsyncClient, admin: dict[str, str], body: bytes, line: int, reason: str
) -> None:
    response = await client.post("/v1/journeys", content=body, headers=admin | YAML)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body" and error["line"] == line and reason in error["reason"]


async def test_a_byte_order_mark_and_crlf_publish_like_plain_utf8(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = b"\xef\xbb\xbf" + JOURNEY.replace("\n", "\r\n").encode()
    response = await client.post("/v1/journeys", content=body, headers=admin | YAML)
    assert response.status_code == 201, response.text
    draft = {"source_yaml": "\ufeff" + JOURNEY.replace("\n", "\r\n"), **PERIOD}
    response = await client.post("/v1/journeys/backtest", json=draft, headers=admin)
    assert response.status_code == 200, response.text


async def test_a_draft_with_a_lone_surrogate_is_422(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    headers = await make_key("journeys:read")
    body = '{"source_yaml": "id: x\\nname: \\ud800", "from": "2026-01-01", "to": "2026-01-31"}'
    response = await client.post(
        "/v1/journeys/backtest", content=body, headers=headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text


async def test_a_body_nested_thousands_deep_is_refused_not_a_500(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = await make_key("journeys:read") | {"Content-Type": "application/json"}
    nested = '{"source_yaml": "id: x", "from": "2026-01-01", "to": "2026-01-31", "extra": ' + "[" * 50_000
    body = nested + "]" * 50_000 + "}"
    response = await client.post("/v1/journeys/backtest", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text


async def test_a_raw_nul_byte_or_a_nul_in_the_file_name_is_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = JOURNEY.replace("id: bill_nudge", "id: bill_nudge\x00").encode()
    response = await client.post("/v1/journeys", content=body, headers=admin | YAML)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0], response.text
    broken = JOURNEY.replace("bill.projection_updated", "bill.projection_update")
    response = await client.post(
        "/v1/journeys?filename=a%00b%ED%A0%80.yaml", content=broken, headers=admin | YAML
    )
    assert response.status_code == 422, response.text
