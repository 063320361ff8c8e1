"""Rate-coaching scores from reads: best_tariff, best_tariff_savings and peak_shift_kwh per customer,
computed from reads in memory and from the metering store (the test Postgres)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.metering.store import copy_reads
from gridjourney.scoring.tariff_scores import add_tariff_scores, score_attributes, tariff_scores
from gridjourney.tariffs.loader import load_tariffs_text
from tests.tariffs.support import hourly_reads
from tests.tariffs.test_coaching import TARIFFS, YEAR


@dataclass
class Row:
    customer_id: str
    time_zone: str | None
    attributes: dict[str, Any] | None = field(default_factory=dict)


def test_scores_from_reads_in_memory() -> None:
    tariffs = load_tariffs_text(TARIFFS, "tariffs.yaml")
    reads = pd.concat(
        [
            # 1 kWh every local hour in Chicago: tou costs 365 x (5 x 0.40 + 19 x 0.10) = $1,423.50,
            # flat 8,760 x 0.20 = $1,752.00
            hourly_reads("chicago", *YEAR, zone="America/Chicago"),
            # the same use, already on tou: nothing to save
            hourly_reads("on_tou", *YEAR),
        ]
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["chicago", "on_tou"],
            "time_zone": ["America/Chicago", None],
            "tariff": [None, "tou"],
        }
    )
    frame, skipped = tariff_scores(reads, customers, tariffs, YEAR[1])
    assert skipped == []
    scores = score_attributes(frame, tariffs)
    assert scores["chicago"]["scores"] == {
        "best_tariff": "tou",
        "best_tariff_name": "tou",
        "best_tariff_savings": 328.5,
        "tariff_year_scaled": False,
        "peak_shift_kwh": 200.0,  # $60 more at 0.40 - 0.10 a kWh
        "peak_shift_tariff": "tou",
        "peak_shift_tariff_name": "tou",
        "peak_shift_savings": 60.0,
    }
    assert scores["on_tou"]["scores"]["best_tariff_savings"] == 0.0
    json.dumps(scores, allow_nan=False)  # what a customer.updated event carries


async def test_scores_from_stored_reads_merge_into_the_other_scores(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    tariffs_file = tmp_path / "tariffs.yaml"
    tariffs_file.write_text(TARIFFS)
    reads = pd.concat(
        [
            hourly_reads("whole", *YEAR),
            # 20 October to 31 December only: 73 days, scaled to a year and flagged
            hourly_reads("part", date(2023, 10, 20), YEAR[1], lambda hour: 1.0 if hour.hour == 17 else 0.0),
        ]
    )
    reads = reads.assign(meter_id=reads["customer_id"] + "-m", source="test")
    await copy_reads(engine, reads)
    attributes: dict[str, dict[str, Any]] = {"whole": {"segment": "s", "scores": {"dr_propensity": 0.4}}}
    rows = [Row("whole", "UTC"), Row("part", "UTC", {"tariff": "tou"}), Row("nothing", None, None)]
    end = datetime(2024, 1, 1, tzinfo=UTC)
    skipped = await add_tariff_scores(engine, attributes, rows, end, tariffs_file)
    assert skipped == [("nothing", "tariffs: no reads in the last year")]
    whole = attributes["whole"]
    assert whole["segment"] == "s" and whole["scores"]["dr_propensity"] == 0.4
    assert (whole["scores"]["best_tariff"], whole["scores"]["best_tariff_savings"]) == ("tou", 328.5)
    part = attributes["part"]["scores"]
    # 73 days of 1 kWh at 17:00: flat 73 x 0.20 = 14.60, tou 73 x 0.40 = 29.20; x 365/73 = 73.00 and
    # 146.00: on tou, switching to flat saves $73.00 a year
    assert (part["best_tariff"], part["best_tariff_savings"], part["tariff_year_scaled"]) == (
        "flat",
        73.0,
        True,
    )


async def test_without_a_usable_tariffs_file_nothing_is_scored(engine: AsyncEngine, tmp_path: Path) -> None:
    attributes: dict[str, dict[str, Any]] = {}
    end = datetime(2024, 1, 1, tzinfo=UTC)
    missing = tmp_path / "none.yaml"
    assert await add_tariff_scores(engine, attributes, [Row("a", "UTC")], end, missing) == [
        ("*", f"tariffs: no tariffs file at {missing} (GRIDJOURNEY_TARIFFS_FILE): no rate coaching")
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(TARIFFS.replace("default: flat", "default: gold"))
    assert await add_tariff_scores(engine, attributes, [Row("a", "UTC")], end, bad) == [
        ("*", f"tariffs: {bad}:3:10: unknown tariff `gold` (hint: name one of flat, tou)")
    ]
    assert attributes == {}
