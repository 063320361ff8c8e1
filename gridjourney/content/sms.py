"""SMS segment counting (3GPP TS 23.038): GSM-7 when every character is in the GSM alphabet
(extension characters take two septets), otherwise UCS-2 (UTF-16 code units)."""

from __future__ import annotations

import math
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

Encoding = Literal["GSM-7", "UCS-2"]


def sms_segments(body: str) -> tuple[Encoding, int]:
    """(encoding, number of segments): GSM-7 160 per single / 153 per concatenated part,
    UCS-2 70 / 67. An empty body still takes one segment."""
    if GSM7.issuperset(body):  # set operations, not a Python step per character
        septets = len(body) + sum(body.count(ch) for ch in GSM7_EXTENSION)
        return "GSM-7", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2  # characters beyond the BMP take two units
    return "UCS-2", 1 if units <= 70 else math.ceil(units / 67)
