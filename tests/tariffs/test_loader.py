"""tariffs.yaml → TariffFile: the shipped file loads; each bad file is refused at its file:line:column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gridjourney.tariffs.loader import TariffErrors, load_tariffs, load_tariffs_text

SHIPPED = Path(__file__).resolve().parents[2] / "tariffs.yaml"

# Line numbers below refer to this text (line 1 is `currency: USD`).
GOOD = """\
currency: USD
holidays: US
default: flat
tariffs:
  flat:
    fixed_monthly: 10.00
    flat: {rate: 0.16}
  tiered:
    tiered:
      tiers:
        - {up_to: 300, rate: 0.14}
        - {up_to: 800, rate: 0.18}
        - {rate: 0.26}
  tou:
    time_of_use:
      summer:
        months: [6, 7, 8, 9]
        rates: {peak: 0.38, off_peak: 0.12}
        weekdays:
          peak: "16:00-21:00"
          off_peak: ["00:00-16:00", "21:00-24:00"]
        weekends:
          off_peak: "00:00-24:00"
      winter:
        months: [1, 2, 3, 4, 5, 10, 11, 12]
        rates: {off_peak: 0.12}
        weekdays: {off_peak: "00:00-24:00"}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(TariffErrors) as raised:
        load_tariffs_text(text, "tariffs.yaml")
    return [str(error) for error in raised.value.errors]


def test_the_shipped_file_loads_with_each_kind() -> None:
    tariffs = load_tariffs(SHIPPED)
    assert tariffs.default in tariffs.tariffs
    assert {t.kind for t in tariffs.tariffs.values()} == {"flat", "tiered", "time_of_use"}


def test_a_good_file_keeps_decimal_amounts() -> None:
    tariffs = load_tariffs_text(GOOD, "tariffs.yaml")
    flat = tariffs.tariffs["flat"]
    assert flat.flat is not None and flat.flat.rate == Decimal("0.16")
    assert flat.fixed_monthly == Decimal("10.00")
    assert tariffs.tariffs["tou"].kind == "time_of_use"
    assert tariffs.coaching.shift_goal == Decimal(60)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (  # the peak 16:00-21:00 also claimed by off-peak
            'off_peak: ["00:00-16:00", "21:00-24:00"]',
            'off_peak: ["00:00-17:00", "21:00-24:00"]',
            ["21:22: overlapping hours: off_peak 00:00-17:00 and peak 16:00-21:00"],
        ),
        (
            'off_peak: ["00:00-16:00", "21:00-24:00"]',
            'off_peak: ["00:00-16:00", "22:00-24:00"]',
            ["19:9: missing hours: 21:00-22:00 have no period"],
        ),
        (
            'peak: "16:00-21:00"',
            'pek: "16:00-21:00"',
            [
                "18:17: period `peak` has a rate but no hours",
                "20:11: unknown period `pek`: the season has no rate for it",
            ],
        ),
        (
            "        - {up_to: 800, rate: 0.18}",
            "        - {up_to: 200, rate: 0.18}",
            ["12:19: tiers not increasing: 200 kWh after 300 kWh"],
        ),
        (
            "        - {rate: 0.26}",
            "        - {up_to: 900, rate: 0.26}",
            ["13:19: the last tier takes the rest of the month's kWh: it has no `up_to`"],
        ),
        (
            "months: [1, 2, 3, 4, 5, 10, 11, 12]",
            "months: [1, 2, 3, 4, 10, 11, 12]",
            ["15:5: months 5 are in no season"],
        ),
        (
            "months: [1, 2, 3, 4, 5, 10, 11, 12]",
            "months: [1, 2, 3, 4, 5, 6, 10, 11, 12]",
            ["25:33: month 6 is in two seasons: summer and winter"],
        ),
        (
            "months: [1, 2, 3, 4, 5, 10, 11, 12]",
            "months: [1, 2, 3, 4, 5, 10, 11, 13]",
            ["25:41: tariffs.tou.time_of_use.winter.months.7: Input should be less than or equal to 12"],
        ),
        ("default: flat", "default: flatt", ["3:10: unknown tariff `flatt`"]),
        (
            "holidays: US",
            "holidays: XX",
            ["2:11: no holiday calendar 'XX' (a country code, e.g. 'US' or 'GB-ENG')"],
        ),
        (
            '          peak: "16:00-21:00"',
            '          peak: "16:30-21:00"',
            ["20:17: 16:30-21:00: hours start and end on the hour"],
        ),
        (
            "    flat: {rate: 0.16}",
            "    flat: {rate: -0.16}",
            ["7:18: tariffs.flat.flat.rate: Input should be greater than or equal to 0"],
        ),
        (
            "    fixed_monthly: 10.00",
            "    fixed_monthly: 10.00\n    tiered: {tiers: [{rate: 1}]}",
            ["5:3: a tariff has one kind of energy charge, this one has 2: flat, tiered"],
        ),
        (  # the name travels in customer.updated payloads, which cannot hold a NUL
            "    flat: {rate: 0.16}",
            '    flat: {rate: 0.16}\n    name: "Flat\\0rate"',
            ["8:11: the value contains a NUL character (\\u0000)"],
        ),
    ],
)
def test_a_bad_file_is_refused_at_its_position(old: str, new: str, expected: list[str]) -> None:
    assert GOOD.count(old) == 1
    found = errors_of(GOOD.replace(old, new))
    assert [error.split(" (hint: ")[0] for error in found] == [f"tariffs.yaml:{e}" for e in expected]
    assert all(" (hint: " in error for error in found)


def test_every_problem_is_reported_in_file_order() -> None:
    text = GOOD.replace("default: flat", "default: nope").replace("{rate: 0.26}", "{up_to: 9, rate: 0.26}")
    found = errors_of(text)
    assert [line.split(": ")[0] for line in found] == [
        "tariffs.yaml:3:10",
        "tariffs.yaml:13:19",
        "tariffs.yaml:13:19",
    ]


def test_a_rate_without_hours_and_an_unknown_key() -> None:
    found = errors_of(GOOD.replace("rates: {off_peak: 0.12}", "rates: {off_peak: 0.12, peak: 0.3}"))
    assert found == [
        "tariffs.yaml:26:33: period `peak` has a rate but no hours (hint: give it hours under weekdays or "
        "weekends, or remove its rate)"
    ]
    found = errors_of(GOOD.replace("    fixed_monthly: 10.00", "    fixed_monthly: 10.00\n    fixed: 3"))
    assert found[0].startswith("tariffs.yaml:7:5: unknown key `fixed`")


def test_yaml_syntax_and_unreadable_files(tmp_path: Path) -> None:
    found = errors_of("currency: USD\ntariffs: [\n")
    assert found[0].startswith("tariffs.yaml:3:1: YAML syntax error")
    with pytest.raises(TariffErrors) as raised:
        load_tariffs(tmp_path / "missing.yaml")
    assert (
        str(raised.value)
        == f"{tmp_path / 'missing.yaml'}:1:1: cannot read the tariffs: No such file or directory"
    )
