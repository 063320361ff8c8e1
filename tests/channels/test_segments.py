from __future__ import annotations

from gridjourney.channels.segments import count_segments, is_gsm7


def test_gsm7_bodies_fit_160_then_153_per_part() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("a" * 306) == 2
    assert count_segments("a" * 307) == 3


def test_extension_characters_take_two_septets() -> None:
    assert is_gsm7("Pay €20 [now]")
    assert count_segments("€" * 80) == 1
    assert count_segments("€" * 81) == 2


def test_spanish_accents_outside_gsm7_switch_to_ucs2() -> None:
    assert not is_gsm7("energía")  # í is not in the GSM-7 basic set
    assert count_segments("í" * 70) == 1
    assert count_segments("í" * 71) == 2
    assert count_segments("⚡" * 35) == 1  # one UTF-16 unit each
    assert count_segments("😀" * 36) == 2  # emoji take two units
